"""DuckDB, Spark local or a Spark standalone cluster for the models? Every model over the same lake, each in a fresh
process of its own.

Seeds the demo data (embedded profile: SQLite, directory lake, SQLite catalog) into a var dir per scale, or reuses
one with --var-dir, extracts it to the lake's Iceberg tables, then runs `run_process` (every model, the marts
committed to the lake) once per contender, each in a child process started for it: duckdb, spark-local (local[2]
in the child's JVM) and spark-standalone (a master and two workers this bench starts on free ports, the child's
driver submitting to it). The mart tables are dropped before each run, so every contender commits every mart (an
unchanged output would otherwise be skipped). The parent samples the resident memory of the child's process tree
(the Python process and, for Spark, its JVM) and, for the cluster, of the master's and the workers' trees (their
executors) from /proc every 100 ms and keeps the peak. Prints the engine's start-up (DuckDB connect, SparkSession),
the models (reading the lake, running, committing the marts), the child's wall time, per-model seconds, ratios.

    .venv/bin/python bench/process_bench.py --scales 1
    .venv/bin/python bench/process_bench.py --scales 1,10 --var-dir /tmp/lakefront-process-bench
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from _seed import seed_once

ROOT = Path(__file__).resolve().parent.parent
CONTENDERS = ("duckdb", "spark-local", "spark-standalone")
UNTIL = date(2026, 10, 31)  # fixed, so a scale always gives the same data
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def step(message: str) -> None:
    print(f"# {message}", flush=True)


def settings_for(var_dir: Path, args: argparse.Namespace, master: str | None = None) -> Any:
    from lakefront.settings import ProcessSettings, Settings

    return Settings(var_dir=var_dir, process=ProcessSettings(
        spark_master=master or args.spark_master, spark_driver_memory=args.spark_memory,
        spark_worker_memory=args.spark_memory, duckdb_memory_limit=args.duckdb_memory))


# ---- child: one engine, one run ----

def child(contender: str, var_dir: Path, args: argparse.Namespace) -> None:
    began = time.perf_counter()
    from lakefront.analytics.compute import open_compute
    from lakefront.analytics.process import run_process

    engine = contender.split("-")[0]
    settings = settings_for(var_dir, args)
    imported = time.perf_counter()
    # Started here and borrowed by the runner (Spark), so the session's start is timed apart from the models.
    # DuckDB's is cheap: the runner opens its own, and this one only times a connect.
    started = open_compute(settings, engine)
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
    print(json.dumps({"engine": contender, "import_s": imported - began, "start_s": start_s, "models_s": models_s,
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


def measure(contender: str, var_dir: Path, args: argparse.Namespace, cluster: Any = None) -> Run:
    master = cluster.master_url if cluster is not None else args.spark_master
    command = [sys.executable, __file__, "--child", contender, "--var-dir", str(var_dir),
               "--spark-master", master, "--spark-memory", args.spark_memory,
               "--duckdb-memory", args.duckdb_memory]
    others = [s.pid for s in (cluster.master, *cluster.daemons)] if cluster is not None else []
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEFRONT_")}
    began = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True, cwd=var_dir)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_kb(proc.pid) + sum(tree_rss_kb(pid) for pid in others))
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
        return Run(args.current_scale, contender, wall, peak / 1024, usage.ru_maxrss / 1024, {}, failed=True)
    report = json.loads(out.strip().splitlines()[-1])
    return Run(args.current_scale, contender, wall, peak / 1024, usage.ru_maxrss / 1024, report)


def prepare(var_dir: Path, scale: float, args: argparse.Namespace) -> None:
    """Seed and extract once per var dir; a second bench run reuses both."""
    from lakefront.analytics import pipeline
    from lakefront.analytics.lake import Lake, raw_name

    settings = settings_for(var_dir, args)
    seed_once(settings, scale=scale, seed=args.seed, until=UNTIL, step=step)
    with Lake(settings) as lake:
        extracted = lake.last_commit(raw_name("events")) is not None
    if not extracted:
        began = time.perf_counter()
        results = pipeline.extract(settings)
        step(f"extracted {sum(r.rows for r in results):,} rows in {time.perf_counter() - began:.1f} s")


def clear_marts(var_dir: Path, args: argparse.Namespace) -> None:
    from lakefront.analytics.lake import Lake

    with Lake(settings_for(var_dir, args)) as lake:
        for name in lake.marts():
            lake.drop(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="1", help="comma-separated demo data scales (1 = 100,000 orders)")
    parser.add_argument("--var-dir", type=Path, default=None, help="keep (and reuse) the data sets here")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--spark-master", default="local[2]", help="the master of spark-local")
    parser.add_argument("--spark-memory", default="1g", help="Spark driver memory (local mode: all of Spark)")
    parser.add_argument("--duckdb-memory", default="1GB", help="DuckDB's memory limit (settings default 4GB)")
    parser.add_argument("--contenders", default=",".join(CONTENDERS),
                        help="comma-separated, of " + ", ".join(CONTENDERS))
    parser.add_argument("--child", choices=CONTENDERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.var_dir, args)
        return

    base = args.var_dir or Path(tempfile.mkdtemp(prefix="lakefront-process-bench-"))
    scales = [float(s) for s in args.scales.split(",")]
    contenders = [c for c in args.contenders.split(",") if c]
    runs: list[Run] = []
    for scale in scales:
        args.current_scale = scale
        var_dir = (base / f"scale-{scale:g}").resolve()
        prepare(var_dir, scale, args)
        for contender in contenders:
            clear_marts(var_dir, args)
            step(f"scale {scale:g}: {contender}")
            with cluster_for(contender, base, args) as cluster:
                run = measure(contender, var_dir, args, cluster)
            step(f"  {'FAILED after ' if run.failed else ''}{run.wall_s:.1f} s, peak {run.peak_tree_mb:.0f} MB")
            runs.append(run)

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    print(f"\n## Processing: every model, DuckDB (memory limit {args.duckdb_memory}) vs Spark local "
          f"({args.spark_master}, driver {args.spark_memory}) vs Spark standalone (2 workers of 1 core, "
          f"{args.spark_memory} each)")
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
        by = {r.engine: r for r in runs if r.scale == scale and not r.failed}
        duck = by.get("duckdb")
        for name, other in by.items():
            if duck is None or other is duck:
                continue
            print(f"- scale {scale:g}: {name} takes {other.wall_s / duck.wall_s:.1f}x DuckDB's wall time "
                  f"({other.report['models_s'] / duck.report['models_s']:.1f}x on the models alone) and "
                  f"{other.peak_tree_mb / duck.peak_tree_mb:.1f}x its peak memory")
    last = {r.engine: r for r in runs if r.scale == scales[-1] and not r.failed}
    if last:
        names = list(last)
        print(f"\nPer model at scale {scales[-1]:g} (seconds; marts include committing them to the lake):\n")
        print("| model | " + " | ".join(names) + " |")
        print("|---|" + "---:|" * len(names))
        for model in next(iter(last.values())).report["models"]:
            print(f"| {model} | " + " | ".join(f"{last[n].report['models'].get(model, float('nan')):.3f}"
                                              for n in names) + " |")
    print(f"\nreproduce: .venv/bin/python bench/process_bench.py --scales {args.scales} "
          f"--contenders {args.contenders} --spark-master '{args.spark_master}' --spark-memory {args.spark_memory} "
          f"--duckdb-memory {args.duckdb_memory}")


@contextlib.contextmanager
def cluster_for(contender: str, base: Path, args: argparse.Namespace) -> Iterator[Any]:
    """A fresh standalone cluster for spark-standalone (its start is not the contender's time), else None."""
    if contender != "spark-standalone":
        yield None
        return
    import random

    from lakefront.servers.procs import port_open
    from lakefront.servers.spark import SparkCluster

    # Below the ephemeral range, so no outgoing connection takes one of the six ports meanwhile.
    port = random.randrange(20000, 31990)  # nosec B311 - a port number
    while any(port_open("127.0.0.1", p) for p in range(port, port + 6)):
        port = random.randrange(20000, 31990)  # nosec B311
    cluster = SparkCluster(base / "spark", port, workers=2, worker_cores=1, worker_memory=args.spark_memory)
    cluster.start_ready()
    try:
        yield cluster
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
