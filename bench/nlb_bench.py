"""The database writer endpoint (the NLB role): what a failover costs a client of the endpoint, and what the hop
costs in normal operation.

Starts a MariaDB primary + standby with the control plane's own database code (control/database: monitor,
failover, rejoin) and HAProxy in front (control/nlb.py), in a temporary directory on free ports. Then:

- overhead: --samples connect + `SELECT 1` + close, and --samples `SELECT 1` on one held connection, straight
  to the primary and through the endpoint (p50, p99 in ms);
- --drills crash drills: a client connects through the endpoint and inserts a row every 10 ms (a new connection
  after any error); the primary's mariadbd is SIGKILLed; measured: kill -> first insert committed through
  the endpoint (on the new primary, by @@port), and the monitor's promotion time (failover event duration_s).
  Each drill then waits until the old primary has rejoined as the standby (in sync) before the next one.

    .venv/bin/python bench/nlb_bench.py --drills 5
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pymysql

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from lakefront.control.database import DatabaseCluster
from lakefront.control.nlb import nlb_for
from lakefront.servers.base import HOST
from lakefront.servers.procs import free_port
from lakefront.settings import Settings, load_settings
from support.servers import mariadb_template


def _connect(settings: Settings, port: int, timeout: float = 2.0) -> pymysql.Connection[Any]:
    db = settings.db
    return pymysql.connect(host=HOST, port=port, user=db.user, password=db.password.get_secret_value(),
                           database=db.name, autocommit=True, connect_timeout=timeout, read_timeout=timeout)


def _wait(probe: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise SystemExit(f"nlb_bench: not within {timeout:.0f}s: {what}")
        time.sleep(0.05)


def _pcts(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def overhead(settings: Settings, primary_port: int, samples: int) -> None:
    print("| path | what | p50 ms | p99 ms |\n|---|---|---:|---:|")
    for label, port in (("straight to the primary", primary_port), ("through the endpoint", settings.nlb.port)):
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            with closing(_connect(settings, port)) as conn, conn.cursor() as cur:
                cur.execute("SELECT 1")
            times.append((time.perf_counter() - started) * 1000)
        p50, p99 = _pcts(times)
        print(f"| {label} | connect + SELECT 1 + close | {p50:.2f} | {p99:.2f} |")
        with closing(_connect(settings, port)) as conn, conn.cursor() as cur:
            times = []
            for _ in range(samples):
                started = time.perf_counter()
                cur.execute("SELECT 1")
                cur.fetchall()
                times.append((time.perf_counter() - started) * 1000)
        p50, p99 = _pcts(times)
        print(f"| {label} | SELECT 1 on a held connection | {p50:.3f} | {p99:.3f} |")


def _in_sync_for(cluster: DatabaseCluster, seconds: float) -> None:
    """The monitor has seen the standby in sync for `seconds` in a row (a failover is refused otherwise)."""
    roles, since = cluster.roles, None

    def steady() -> bool:
        nonlocal since
        if roles.readers != [roles.standby] or roles.standby_in_sync is not True:
            since = None
            return False
        since = since or time.monotonic()
        return time.monotonic() - since >= seconds

    _wait(steady, "the standby in sync")


def drill(settings: Settings, cluster: DatabaseCluster, n: int) -> tuple[float, float, str]:
    """Kill the primary; the seconds until a write through the endpoint commits on the primary published after
    it, the monitor's promotion time, and what happened (failover, or restart in place when refused)."""
    roles = cluster.roles
    old = roles.primary
    events, restarts = len(roles.events), cluster.nodes[old].restarts
    cluster.nodes[old].server.kill()
    killed = time.monotonic()
    conn = None
    while True:
        if time.monotonic() - killed > 60:
            raise SystemExit("nlb_bench: no write through the endpoint within 60 s of the kill")
        try:
            if conn is None:
                conn = _connect(settings, settings.nlb.port, timeout=1.0)
            with conn.cursor() as cur:
                cur.execute("INSERT INTO bench (drill) VALUES (%s)", (n,))
                cur.execute("SELECT @@port")
                port = cur.fetchone()[0]
            # Committed on the primary published after the kill: the promoted standby, or the old primary
            # restarted in place (when failing over was refused).
            settled = len(roles.events) > events or cluster.nodes[old].restarts > restarts
            if settled and port == cluster.nodes[roles.primary].port:
                first_write = time.monotonic() - killed
                break
        except pymysql.MySQLError:
            if conn is not None:
                conn.close()
            conn = None
        time.sleep(0.01)
    if conn is not None:
        conn.close()
    failed_over = len(roles.events) > events
    promoted = roles.events[-1].duration_s if failed_over else float("nan")
    _in_sync_for(cluster, 3.0)
    return first_write, promoted, "failover" if failed_over else "refused: restarted in place"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drills", type=int, default=5)
    parser.add_argument("--samples", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nlb-bench-") as tmp:
        settings = load_settings(profile="services", var_dir=Path(tmp) / "var",
                                 db={"port": free_port(), "standby_port": free_port()}, nlb={"port": free_port()})
        cluster = DatabaseCluster(settings)
        for node in cluster.nodes.values():
            node.server.initialize(template=mariadb_template())
        nlb = nlb_for(settings, cluster)
        try:
            cluster.start()
            nlb.start()
            roles = cluster.roles
            _in_sync_for(cluster, 3.0)
            with closing(_connect(settings, settings.nlb.port)) as conn, conn.cursor() as cur:
                cur.execute("CREATE TABLE bench (id INT AUTO_INCREMENT PRIMARY KEY, drill INT NOT NULL)")
            commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                    check=False).stdout.strip()
            db = settings.db
            print(f"Run: {platform.node()}, Python {platform.python_version()}, commit {commit}, "
                  f"{time.strftime('%Y-%m-%d', time.gmtime())}; probe every {db.probe_interval_s}s, failover after "
                  f"{db.probe_failures} failures; check every {settings.nlb.check_interval_ms} ms\n")
            overhead(settings, cluster.nodes[roles.primary].port, args.samples)
            print("\n| drill | kill -> first write through the endpoint, s | monitor's promotion, s | outcome |\n"
                  "|---:|---:|---:|---|")
            firsts = []
            for n in range(1, args.drills + 1):
                first, promoted, outcome = drill(settings, cluster, n)
                firsts.append(first)
                print(f"| {n} | {first:.3f} | {promoted:.3f} | {outcome} |", flush=True)
            print(f"\nkill -> first write through the endpoint: p50 {statistics.median(firsts):.3f} s, "
                  f"max {max(firsts):.3f} s over {len(firsts)} drills")
            print(f"connections HAProxy sent to each node: "
                  f"{ {name: row['stot'] for name, row in nlb.server.servers().items()} }")
        finally:
            nlb.stop()
            cluster.stop()


if __name__ == "__main__":
    main()
