"""DuckDB or Spark for the models? Every model over the same lake, each engine in a fresh process of its own.

Seeds the demo data (embedded profile: SQLite, directory lake) into a var dir per scale, or reuses one with
--var-dir, extracts it to the lake (Parquet), then runs `run_process` (every model, the marts written back to the
lake) once per engine, each in a child process started for it. The marts zone is emptied before each run, so both
engines write every mart (an unchanged output would otherwise be skipped). The parent samples the resident memory of
the child's process tree (the Python process and, for Spark, its JVM) from /proc every 100 ms and keeps the peak;
the child's own ru_maxrss is printed too. Prints the engine's start-up (DuckDB connect, SparkSession), the models
(reading the lake, running, writing the marts), the child's wall time, per-model seconds and the ratios.

    .venv/bin/python bench/process_bench.py --scales 1
    .venv/bin/python bench/process_bench.py --scales 1,10 --var-dir /tmp/lakefront-process-bench
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from _seed import seed_once

ROOT = Path(__file__).resolve().parent.parent
ENGINES = ("duckdb", "spark")
UNTIL = date(2026, 10, 31)  # fixed, so a scale always gives the same data
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def step(message: str) -> None:
    print(f"# {message}", flush=True)


def settings_for(var_dir: Path, args: argparse.Namespace) -> Any:
    from lakefront.settings import ProcessSettings, Settings

    return Settings(var_dir=var_dir, process=ProcessSettings(
        spark_master=args.spark_master, spark_driver_memory=args.spark_memory,
        duckdb_memory_limit=args.duckdb_memory))


# ---- child: one engine, one run ----

def child(engine: str, var_dir: Path, args: argparse.Namespace) -> None:
    began = time.perf_counter()
    from lakefront.analytics.engines import open_engine
    from lakefront.analytics.process import run_process

    settings = settings_for(var_dir, args)
    imported = time.perf_counter()
    # Started here and borrowed by the runner (Spark), so the session's start is timed apart from the models.
    # DuckDB's engine is cheap: the runner opens its own, and this one only times a connect.
    started = open_engine(settings, engine)
    start_s = time.perf_counter() - imported
    if engine == "duckdb":
        started.close()
    try:
        t0 = time.perf_counter()
        results = run_process(settings, engine=engine)
        models_s = time.perf_counter() - t0
    finally:
        if engine == "spark":
            started.close()
    print(json.dumps({"engine": engine, "import_s": imported - began, "start_s": start_s, "models_s": models_s,
                      "models": {r.name: r.seconds for r in results},
                      "mart_rows": sum(r.rows or 0 for r in results if r.kind == "mart"),
                      "committed": sum(r.committed for r in results)}), flush=True)


# ---- parent ----

def tree_rss_kb(root: int) -> int:
    """Resident memory of `root` and every descendant, from /proc (a process gone meanwhile counts as 0)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    wanted, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child_pid, parent in parents.items():
            if parent == pid and child_pid not in wanted:
                wanted.add(child_pid)
                frontier.append(child_pid)
    total = 0
    for pid in wanted:
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KB
    return total


@dataclass
class Run:
    scale: float
    engine: str
    wall_s: float
    peak_tree_mb: float
    child_maxrss_mb: float
    report: dict[str, Any] = field(default_factory=dict)
    failed: bool = False


def measure(engine: str, var_dir: Path, args: argparse.Namespace) -> Run:
    command = [sys.executable, __file__, "--child", engine, "--var-dir", str(var_dir),
               "--spark-master", args.spark_master, "--spark-memory", args.spark_memory,
               "--duckdb-memory", args.duckdb_memory]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEFRONT_")}
    began = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True, cwd=var_dir)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_kb(proc.pid))
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    sampler.join()
    proc.stdout.close()
    if proc.returncode != 0:
        # The child's traceback went to stderr; the table says it failed and the other engine still runs.
        return Run(args.current_scale, engine, wall, peak / 1024, usage.ru_maxrss / 1024, {}, failed=True)
    report = json.loads(out.strip().splitlines()[-1])
    return Run(args.current_scale, engine, wall, peak / 1024, usage.ru_maxrss / 1024, report)


def lake_dir(settings: Any) -> Path:
    """Where the directory store keeps the lake: its prefix in the lake bucket's directory."""
    return Path(settings.objects_root / settings.objects.buckets["lake"] / settings.extract.prefix)


def prepare(var_dir: Path, scale: float, args: argparse.Namespace) -> None:
    """Seed and extract once per var dir; a second bench run reuses both."""
    from lakefront.analytics.extract import run_extract

    settings = settings_for(var_dir, args)
    seed_once(settings, scale=scale, seed=args.seed, until=UNTIL, step=step)
    if not (lake_dir(settings) / "_manifests" / "raw").exists():
        began = time.perf_counter()
        results = run_extract(settings)
        step(f"extracted {sum(r.rows for r in results):,} rows in {time.perf_counter() - began:.1f} s")


def clear_marts(var_dir: Path, args: argparse.Namespace) -> None:
    settings = settings_for(var_dir, args)
    lake = lake_dir(settings)
    for path in (lake / "marts", lake / "_manifests" / "marts"):
        shutil.rmtree(path, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="1", help="comma-separated demo data scales (1 = 100,000 orders)")
    parser.add_argument("--var-dir", type=Path, default=None, help="keep (and reuse) the data sets here")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument("--spark-memory", default="1g", help="Spark driver memory (local mode: all of Spark)")
    parser.add_argument("--duckdb-memory", default="1GB", help="DuckDB's memory limit (settings default 1GB)")
    parser.add_argument("--child", choices=ENGINES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.var_dir, args)
        return

    base = args.var_dir or Path(tempfile.mkdtemp(prefix="lakefront-process-bench-"))
    scales = [float(s) for s in args.scales.split(",")]
    runs: list[Run] = []
    for scale in scales:
        args.current_scale = scale
        var_dir = (base / f"scale-{scale:g}").resolve()
        prepare(var_dir, scale, args)
        for engine in ENGINES:
            clear_marts(var_dir, args)
            step(f"scale {scale:g}: {engine}")
            run = measure(engine, var_dir, args)
            step(f"  {'FAILED after ' if run.failed else ''}{run.wall_s:.1f} s, peak {run.peak_tree_mb:.0f} MB")
            runs.append(run)

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    print(f"\n## Processing: every model, DuckDB (memory limit {args.duckdb_memory}) vs Spark ({args.spark_master}, "
          f"driver {args.spark_memory})")
    print(f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, commit {commit}, "
          f"{time.strftime('%Y-%m-%d')}\n")
    print("| scale | engine | engine start s | models s | process wall s | peak RSS MB (tree) | ru_maxrss MB | "
          "mart rows |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        if r.failed:
            print(f"| {r.scale:g} | {r.engine} | failed | failed | {r.wall_s:.1f} | {r.peak_tree_mb:.0f} | "
                  f"{r.child_maxrss_mb:.0f} | - |")
            continue
        print(f"| {r.scale:g} | {r.engine} | {r.report['start_s']:.2f} | {r.report['models_s']:.1f} | {r.wall_s:.1f} | "
              f"{r.peak_tree_mb:.0f} | {r.child_maxrss_mb:.0f} | {r.report['mart_rows']:,} |")
    print()
    for scale in scales:
        pair = {r.engine: r for r in runs if r.scale == scale}
        duck, spark = pair["duckdb"], pair["spark"]
        if duck.failed or spark.failed:
            continue
        print(f"- scale {scale:g}: Spark takes {spark.wall_s / duck.wall_s:.1f}x DuckDB's wall time "
              f"({spark.report['models_s'] / duck.report['models_s']:.1f}x on the models alone) and "
              f"{spark.peak_tree_mb / duck.peak_tree_mb:.1f}x its peak memory")
    last = {r.engine: r for r in runs if r.scale == scales[-1] and not r.failed}
    if len(last) == 2:
        print(f"\nPer model at scale {scales[-1]:g} (seconds; marts include writing them to the lake):\n")
        print("| model | duckdb | spark |")
        print("|---|---:|---:|")
        for name, seconds in last["duckdb"].report["models"].items():
            print(f"| {name} | {seconds:.3f} | {last['spark'].report['models'].get(name, float('nan')):.3f} |")
    print(f"\nreproduce: .venv/bin/python bench/process_bench.py --scales {args.scales} "
          f"--spark-master '{args.spark_master}' --spark-memory {args.spark_memory} "
          f"--duckdb-memory {args.duckdb_memory}")


if __name__ == "__main__":
    main()
