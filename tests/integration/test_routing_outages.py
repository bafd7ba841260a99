"""Reads that may go to the standby when the standby is gone: killed, or frozen (SIGSTOP) with
connections pooled to it. Real MariaDB servers, a primary and its replica; reads must move to the
primary and come back to the standby when it answers again."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from lakefront.data.endpoints import Endpoints, EndpointsFile, Node, write_endpoints
from lakefront.data.engines import make_engine
from lakefront.data.migrations import migrate
from lakefront.data.routing import RoutedEngines
from lakefront.servers.replication import Replication
from support.servers import APP_PASSWORD, APP_USER, MariaDBHandle, throwaway_mariadb

DB = "outages"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MariaDBHandle, MariaDBHandle]]:
    tmp = tmp_path_factory.mktemp("outages")
    with throwaway_mariadb(tmp) as primary, throwaway_mariadb(tmp, writable=False) as replica:
        Replication(primary.server).ensure_replication_user("repl", "repl-secret")
        engine = make_engine(primary.url(DB), write=True)
        migrate(engine)
        engine.dispose()
        Replication(replica.server).replicate_from("127.0.0.1", primary.port, "repl", "repl-secret")
        Replication(replica.server).wait_replicating()
        yield primary, replica


def _engines(primary: MariaDBHandle, replica: MariaDBHandle, tmp_path: Path) -> RoutedEngines:
    path = tmp_path / "db-endpoints.json"
    write_endpoints(path, Endpoints(1, Node("a", "127.0.0.1", primary.port), (Node("b", "127.0.0.1", replica.port),)))
    # A long lag-check interval: the lag measured before the outage still looks good when it starts.
    return RoutedEngines(EndpointsFile(path), user=APP_USER, password=APP_PASSWORD, database=DB, pool_size=2,
                         max_lag_ms=60_000, lag_check_s=30.0, failover_wait_s=5.0)


def _beat(primary: MariaDBHandle) -> None:
    with primary.server.connect_root() as conn, conn.cursor() as cur:
        cur.execute(f"REPLACE INTO `{DB}`.lf_heartbeat (id, beat_at, node) VALUES (1, UTC_TIMESTAMP(6), 'a')")


def _caught_up(primary: MariaDBHandle, replica: MariaDBHandle) -> None:
    with primary.server.connect_root() as conn, conn.cursor() as cur:
        cur.execute("SELECT @@gtid_binlog_pos")
        row = cur.fetchone()
    assert Replication(replica.server).wait_for_gtid(str(row[0]) if row else "", timeout=30)


def _read_port(engines: RoutedEngines) -> int:
    with engines.connect(write=False) as conn:
        return int(conn.execute(sa.text("SELECT @@port")).scalar_one())


def _bounded(fn: Callable[[], int], limit_s: float = 30.0) -> int:
    """Run `fn` in a thread: a read that hangs on a frozen server fails the test instead of hanging it."""
    out: list[int] = []
    t = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    t.start()
    t.join(limit_s)
    assert out, "a read hung on the unreachable standby"
    return out[0]


def _wait_port(engines: RoutedEngines, port: int) -> None:
    deadline = time.monotonic() + 30
    while _read_port(engines) != port:
        assert time.monotonic() < deadline, f"reads never came back to port {port}"
        time.sleep(0.05)


@pytest.mark.parametrize("outage", ["killed", "frozen"])
def test_reads_fall_back_to_the_primary_when_the_standby_is_unreachable(
        pair: tuple[MariaDBHandle, MariaDBHandle], tmp_path: Path, outage: str) -> None:
    primary, replica = pair
    _beat(primary)
    _caught_up(primary, replica)
    engines = _engines(primary, replica, tmp_path)
    try:
        _wait_port(engines, replica.port)
        with engines.connect(write=False), engines.connect(write=False):
            pass  # two connections to the standby now sit in the pool
        if outage == "killed":
            replica.server.stop()
        else:
            assert replica.server.proc is not None
            replica.server.proc.send_signal(signal.SIGSTOP)
        try:
            ports = [_bounded(lambda: _read_port(engines)) for _ in range(5)]
            assert ports == [primary.port] * 5
            assert engines.reads_routed["writer"] >= 5
        finally:
            if outage == "killed":
                replica.server.start()
                replica.server.wait_ready()
                with replica.server.connect_root() as conn, conn.cursor() as cur:
                    cur.execute("START SLAVE")  # nodes restart with replication stopped
            else:
                replica.server.proc.send_signal(signal.SIGCONT)  # type: ignore[union-attr]
        Replication(replica.server).wait_replicating()
        _beat(primary)
        _caught_up(primary, replica)
        engines.lag_check_s = 0.0
        _wait_port(engines, replica.port)
    finally:
        engines.dispose()
