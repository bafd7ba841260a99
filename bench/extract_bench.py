"""Is the extractor worth having? order_lines from MariaDB to Parquet on SeaweedFS, three ways, one run.

Starts a throwaway MariaDB and a throwaway SeaweedFS on free loopback ports, seeds the demo data at a
small scale, grows order_lines on the server side to at least --rows rows, then extracts the whole
table three times, each contender in a fresh process of its own (so its peak resident memory is its
own): Lakefront's `run_extract(..., full=True)`, `pandas.read_sql` + `to_parquet` + boto3 upload, and
ConnectorX to Arrow + `pyarrow.parquet.write_table` + boto3 upload. Each output is read back and checked
against the source: same row count, same sum(line_total_cents). Prints rows/s, peak RSS and output
bytes per contender and the ratios against pandas. Everything started here stops when it ends.

    .venv/bin/python bench/extract_bench.py --rows 1000000
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BASELINES = Path(__file__).resolve().parent / "_extract_baselines.py"
CONTENDERS = ("lakefront", "pandas", "connectorx")
# Not run by default: ConnectorX's batch stream (bounded memory), for comparison with the extractor's design.
EXTRA_CONTENDERS = ("connectorx-stream",)
DB_NAME, DB_USER, DB_PASSWORD = "lakefront", "bench", "bench-secret"
ACCESS_KEY, SECRET_KEY, REGION = "bench-access", "bench-secret-0123456789", "us-east-1"
BUCKETS = "lakefront-bench"
"""Name prefix of the benchmark's buckets (objects.bucket): the demo images go to -images."""
BUCKET = f"{BUCKETS}-lake"
"""The lake bucket: every contender writes its Parquet here, and verify() reads it back."""
COLUMNS = "order_id, product_id, quantity, unit_price_cents, line_total_cents, created_at, updated_at"
_began = time.monotonic()


def step(message: str) -> None:
    print(f"[{time.monotonic() - _began:7.1f} s] {message}", flush=True)


@dataclass
class Outcome:
    name: str
    ok: bool
    rows: int = 0
    seconds: float = 0.0
    peak_mb: float = 0.0
    base_mb: float = 0.0
    out_bytes: int = 0
    files: int = 0
    wall: float = 0.0
    note: str = ""

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


class Servers:
    """The throwaway MariaDB and SeaweedFS; stop() is safe to call whatever state start() reached."""

    def __init__(self, tmp: Path) -> None:
        from lakefront.servers.mariadb import MariaDBServer
        from lakefront.servers.procs import free_port

        self.tmp = tmp
        self.mariadb = MariaDBServer(root=tmp / "mariadb", port=free_port())
        self.weed: Any = None

    def start(self) -> None:
        from lakefront.data.objects import AREAS
        from lakefront.servers.seaweedfs import SeaweedFSError, SeaweedFSServer, pick_s3_port

        self.mariadb.initialize()
        self.mariadb.start()
        self.mariadb.wait_ready()
        self.mariadb.ensure_database(DB_NAME, DB_USER, DB_PASSWORD)
        step(f"mariadb ready on 127.0.0.1:{self.mariadb.port}")
        for attempt in range(3):
            # Another process may take one of the port set between the check and the bind: try another set.
            self.weed = SeaweedFSServer(self.tmp / "seaweedfs", pick_s3_port(), ACCESS_KEY, SECRET_KEY,
                                        buckets=tuple(f"{BUCKETS}-{area}" for area in AREAS), region=REGION)
            self.weed.start(self.tmp / "weed.log")
            try:
                self.weed.wait_ready(60)
                break
            except SeaweedFSError:
                self.weed.kill()
                if attempt == 2:
                    raise
        step(f"seaweedfs ready on {self.weed.endpoint_url}, bucket {BUCKET}")

    def stop(self) -> None:
        # Throwaway data: SIGKILL for SeaweedFS (its clean stop takes 4 s); MariaDB gets a short clean stop.
        if self.weed is not None:
            self.weed.kill()
        try:
            self.mariadb.stop(timeout=15)
        finally:
            self.mariadb.cleanup()

    @property
    def writer_url(self) -> str:
        return self.mariadb.url(DB_NAME, DB_USER, DB_PASSWORD)

    @property
    def cx_url(self) -> str:
        return f"mysql://{DB_USER}:{DB_PASSWORD}@127.0.0.1:{self.mariadb.port}/{DB_NAME}"


def settings_for(servers: Servers, var_dir: Path) -> Any:
    from lakefront.settings import Settings

    return Settings(
        profile="services", var_dir=var_dir, db={"writer_url": servers.writer_url},
        objects={"backend": "s3", "s3_endpoint": servers.weed.endpoint_url, "bucket": BUCKETS, "region": REGION,
                 "access_key": ACCESS_KEY, "secret_key": SECRET_KEY},
    )


def load(servers: Servers, args: argparse.Namespace) -> tuple[float, float]:
    """Seed the demo data, then grow order_lines to --rows; returns (seed seconds, growth seconds)."""
    from lakefront.demo import seed

    started = time.perf_counter()
    summary = seed(settings_for(servers, servers.tmp / "var"), scale=args.scale, seed=1, progress=False)
    seeded = time.perf_counter() - started
    step(summary.line())

    started = time.perf_counter()
    with servers.mariadb.connect_root() as conn, conn.cursor() as cur:
        cur.execute(f"USE `{DB_NAME}`")
        # No replica is attached: the binary log would only double the writes of the load.
        cur.execute("SET SESSION sql_log_bin = 0")
        # The project's 64 MiB pool and 16 MiB redo log suit tests; a table of millions of rows with three
        # secondary indexes needs more, or each doubling round spends its time evicting and checkpointing.
        # Both are dynamic in MariaDB >= 10.9, and the server is throwaway; a production reader holds its
        # working set in memory too, so the contenders then read from a warm pool.
        cur.execute("SET GLOBAL innodb_buffer_pool_size = 1024 * 1024 * 1024")
        cur.execute("SET GLOBAL innodb_log_file_size = 512 * 1024 * 1024")
        cur.execute("SELECT COUNT(*) FROM order_lines")
        have = int(cur.fetchone()[0])
        # INSERT ... SELECT from the table itself would stage every round in an implicit temp table under the
        # server's tmpdir (/tmp, shared with everything else on the machine); an InnoDB staging table stays in
        # the datadir.
        cur.execute("CREATE TABLE grow_stage (order_id BIGINT NOT NULL, product_id BIGINT NOT NULL, "
                    "quantity INT NOT NULL, unit_price_cents INT NOT NULL, line_total_cents BIGINT NOT NULL, "
                    "created_at DATETIME(6) NOT NULL, updated_at DATETIME(6) NOT NULL) ENGINE=InnoDB")
        round_no = 0
        while have < args.rows:
            round_no += 1
            need = args.rows - have
            # Copies of real lines (valid order and product ids), each moved back in time by a different
            # amount so updated_at is spread out and always in the past, as the extractor's watermark expects.
            cur.execute("TRUNCATE TABLE grow_stage")
            cur.execute(
                f"INSERT INTO grow_stage ({COLUMNS}) "
                "SELECT order_id, product_id, quantity, unit_price_cents, line_total_cents, "
                "created_at - INTERVAL (id MOD 86400) SECOND - INTERVAL %s HOUR, "
                "updated_at - INTERVAL (id MOD 86400) SECOND - INTERVAL %s HOUR "
                "FROM order_lines ORDER BY id LIMIT %s", (round_no, round_no, need))
            cur.execute(f"INSERT INTO order_lines ({COLUMNS}) SELECT {COLUMNS} FROM grow_stage")
            have += cur.rowcount
            step(f"grow: round {round_no}, order_lines now {have:,} rows")
        cur.execute("DROP TABLE grow_stage")
        # Write the table's dirty pages now, so background flushing does not land on the first contender.
        cur.execute("FLUSH TABLES order_lines FOR EXPORT")
        cur.execute("UNLOCK TABLES")
    return seeded, time.perf_counter() - started


def source_truth(servers: Servers) -> tuple[int, int, int]:
    """(rows, sum of line_total_cents, InnoDB data+index bytes); the scan also warms the buffer pool."""
    with servers.mariadb.connect_root() as conn, conn.cursor() as cur:
        cur.execute(f"SELECT COUNT(*), SUM(line_total_cents) FROM `{DB_NAME}`.order_lines")
        rows, total = cur.fetchone()
        # InnoDB's size statistics lag a bulk load until the table is analysed.
        cur.execute(f"ANALYZE TABLE `{DB_NAME}`.order_lines")
        cur.fetchall()
        cur.execute("SELECT data_length + index_length FROM information_schema.tables "
                    "WHERE table_schema = %s AND table_name = 'order_lines'", (DB_NAME,))
        size = cur.fetchone()[0]
    return int(rows), int(total), int(size)


def s3_client() -> Any:
    import boto3
    from botocore.config import Config

    config = Config(signature_version="s3v4", s3={"addressing_style": "path"}, region_name=REGION)
    return boto3.session.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                                 region_name=REGION).client("s3", endpoint_url=endpoint_url(), config=config)


_endpoint: list[str] = []


def endpoint_url() -> str:
    return _endpoint[0]


def verify(prefix: str) -> tuple[int, int, int, int]:
    """(rows, sum of line_total_cents, bytes, files) of the Parquet under `prefix`, read back from S3."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    client = s3_client()
    rows = total = size = files = 0
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix + "/"):
            for item in page.get("Contents", []):
                key = str(item["Key"])
                # The lake may hold manifests or state next to the data; only Parquet files are data.
                if not key.endswith(".parquet"):
                    continue
                body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
                table = pq.read_table(io.BytesIO(body), columns=["line_total_cents"])
                rows += table.num_rows
                total += int(pc.sum(table.column("line_total_cents")).as_py() or 0)
                size += int(item["Size"])
                files += 1
    finally:
        client.close()
    return rows, total, size, files


def child_env(tmp: Path, work: Path) -> dict[str, str]:
    # No LAKEFRONT_* from the caller's shell and no lakefront.toml: the contender's settings are the spec's.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEFRONT_")}
    # TMPDIR: whatever temp files a contender makes land in the work dir and go with it, even after a kill.
    return env | {"LAKEFRONT_CONFIG": str(tmp / "none.toml"), "TMPDIR": str(work)}


_running: list[subprocess.Popen[bytes]] = []


def run_contender(name: str, servers: Servers, tmp: Path, truth: tuple[int, int, int]) -> Outcome:
    work = tmp / name
    work.mkdir()
    prefix = f"bench-{name}"
    spec = {"writer_url": servers.writer_url, "cx_url": servers.cx_url, "endpoint": servers.weed.endpoint_url,
            "bucket": BUCKET, "region": REGION, "access_key": ACCESS_KEY, "secret_key": SECRET_KEY,
            "prefix": prefix, "work_dir": str(work)}
    spec_path = work / "spec.json"
    spec_path.write_text(json.dumps(spec))
    log_path = work / "out.log"
    started = time.perf_counter()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, str(BASELINES), name, str(spec_path)], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=child_env(tmp, work),
                                cwd=work)
        _running.append(proc)
        # wait4 gives this one child's own resource usage; RUSAGE_CHILDREN would mix every child's maximum.
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        _running.remove(proc)
    wall = time.perf_counter() - started
    result_path = work / f"{name}.result.json"
    if proc.returncode != 0 or not result_path.exists():
        tail = log_path.read_text(errors="replace").strip().splitlines()
        error = next((line for line in reversed(tail) if line and not line.startswith(" ")), "no output")
        return Outcome(name, ok=False, wall=wall, note=f"failed (exit {proc.returncode}): {error[:300]}")
    result = json.loads(result_path.read_text())
    rows, total, size, files = verify(prefix)
    checks = []
    if rows != truth[0]:
        checks.append(f"row count {rows:,} != source {truth[0]:,}")
    if total != truth[1]:
        checks.append(f"sum(line_total_cents) {total:,} != source {truth[1]:,}")
    if result["rows"] != rows:
        checks.append(f"reported {result['rows']:,} rows, found {rows:,}")
    # ru_maxrss is in KiB on Linux.
    return Outcome(name, ok=not checks, rows=rows, seconds=result["seconds"], peak_mb=usage.ru_maxrss / 1024,
                   base_mb=result["base_rss_mb"], out_bytes=size, files=files, wall=wall,
                   note="; ".join(checks) or "verified: rows and sum(line_total_cents) match the source")


def report(outcomes: list[Outcome], args: argparse.Namespace, truth: tuple[int, int, int], load_s: tuple[float, float],
           skipped: dict[str, str]) -> None:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    print(f"\n## Extract order_lines, MariaDB -> Parquet (zstd) on SeaweedFS S3, {truth[0]:,} rows")
    print(f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, commit {commit}, "
          f"{time.strftime('%Y-%m-%d')}")
    print(f"load: demo seed (scale {args.scale:g}) {load_s[0]:.1f} s, growth to {truth[0]:,} rows {load_s[1]:.1f} s; "
          f"table {truth[2] / 2**20:.0f} MiB in InnoDB (data + indexes)\n")
    print("| contender | rows | seconds | rows/s | peak RSS MB | RSS after imports MB | output bytes | files | "
          "process wall s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for o in outcomes:
        if o.ok:
            print(f"| {o.name} | {o.rows:,} | {o.seconds:.2f} | {o.rows_per_s:,.0f} | {o.peak_mb:.0f} | "
                  f"{o.base_mb:.0f} | {o.out_bytes:,} | {o.files} | {o.wall:.2f} |")
        else:
            print(f"| {o.name} | - | - | - | - | - | - | - | {o.wall:.2f} |")
    print()
    for o in outcomes:
        print(f"- {o.name}: {o.note}")
    for name, why in skipped.items():
        print(f"- {name}: not run: {why}")
    base = next((o for o in outcomes if o.name == "pandas" and o.ok), None)
    if base is not None:
        print()
        for o in outcomes:
            if o.ok and o is not base:
                speed = o.rows_per_s / base.rows_per_s
                memory = o.peak_mb / base.peak_mb
                above = (o.peak_mb - o.base_mb) / max(1e-9, base.peak_mb - base.base_mb)
                aim = "meets" if speed >= 3 and memory <= 0.5 else "misses"
                print(f"- {o.name} vs pandas: {speed:.1f}x the speed, {memory:.2f} of its peak RSS "
                      f"({above:.2f} of its growth above imports); {aim} the aim (>= 3x, <= 0.5)")
    chosen = "" if args.contenders == ",".join(CONTENDERS) else f" --contenders {args.contenders}"
    scale = "" if args.scale == 0.05 else f" --scale {args.scale:g}"
    print(f"\nreproduce: .venv/bin/python bench/extract_bench.py --rows {args.rows}{scale}{chosen}")


def _terminate(signum: int, frame: FrameType | None) -> None:
    # SIGTERM takes the same way out as Ctrl-C, through every finally below.
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="order_lines rows to extract (at least)")
    parser.add_argument("--scale", type=float, default=0.05, help="demo data scale seeded before the growth")
    parser.add_argument("--contenders", default=",".join(CONTENDERS),
                        help=f"comma-separated subset and order of {', '.join(CONTENDERS + EXTRA_CONTENDERS)}")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (servers' data, logs, specs)")
    args = parser.parse_args()
    names = [n.strip() for n in args.contenders.split(",") if n.strip()]
    unknown = set(names) - set(CONTENDERS + EXTRA_CONTENDERS)
    if unknown:
        parser.error(f"unknown contenders: {', '.join(sorted(unknown))}")
    signal.signal(signal.SIGTERM, _terminate)

    tmp = Path(tempfile.mkdtemp(prefix="lf-extract-bench-"))
    step(f"work dir {tmp}")
    servers = Servers(tmp)
    try:
        servers.start()
        _endpoint.append(servers.weed.endpoint_url)
        load_s = load(servers, args)
        truth = source_truth(servers)
        step(f"source: {truth[0]:,} rows, sum(line_total_cents) {truth[1]:,}, {truth[2] / 2**20:.0f} MiB in InnoDB")
        outcomes: list[Outcome] = []
        skipped: dict[str, str] = {}
        for name in names:
            if name == "lakefront" and importlib.util.find_spec("lakefront.analytics.extract") is None:
                skipped[name] = "lakefront.analytics.extract does not exist yet"
                step(f"{name}: skipped, {skipped[name]}")
                continue
            step(f"{name}: extracting in a fresh process")
            outcome = run_contender(name, servers, tmp, truth)
            outcomes.append(outcome)
            if outcome.ok:
                step(f"{name}: {outcome.rows:,} rows in {outcome.seconds:.2f} s ({outcome.rows_per_s:,.0f} rows/s), "
                     f"peak RSS {outcome.peak_mb:.0f} MB, {outcome.out_bytes:,} bytes; {outcome.note}")
            else:
                step(f"{name}: {outcome.note}")
        report(outcomes, args, truth, load_s, skipped)
    finally:
        for proc in list(_running):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(ChildProcessError):
                os.waitpid(proc.pid, 0)
        servers.stop()
        if args.keep:
            step(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        step("servers stopped")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        # Everything is already stopped and removed by main's finally; no traceback for an interruption.
        print("interrupted", file=sys.stderr)
        sys.exit(130)
