"""App instances follow the failover monitor's published endpoints, and route reads by replication lag.

Real MariaDB servers: a primary and a replica of it (GTID), plus the endpoints document the control
plane publishes. Nothing here restarts the engines: they must follow the document on their own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from lakefront.data.endpoints import Endpoints, EndpointsFile, Node, write_endpoints
from lakefront.data.engines import DatabaseUnavailable, make_engine
from lakefront.data.migrations import migrate
from lakefront.data.routing import RoutedEngines
from lakefront.servers.replication import Replication
from support.servers import APP_PASSWORD, APP_USER, MariaDBHandle, throwaway_mariadb

DB = "routing"


@dataclass
class Pair:
    primary: MariaDBHandle
    replica: MariaDBHandle
    endpoints: Path

    def node(self, handle: MariaDBHandle, name: str) -> Node:
        return Node(name, "127.0.0.1", handle.port)

    def publish(self, generation: int, writer: MariaDBHandle | None, readers: list[MariaDBHandle]) -> None:
        names = {self.primary.port: "a", self.replica.port: "b"}
        write_endpoints(self.endpoints, Endpoints(
            generation, self.node(writer, names[writer.port]) if writer else None,
            tuple(self.node(r, names[r.port]) for r in readers)))

    def engines(self, **kwargs: float) -> RoutedEngines:
        return RoutedEngines(EndpointsFile(self.endpoints), user=APP_USER, password=APP_PASSWORD, database=DB,
                             pool_size=2, **kwargs)  # type: ignore[arg-type]

    def beat(self) -> None:
        """What the failover monitor does every probe: rewrite the heartbeat through the primary."""
        with self.primary.server.connect_root() as conn, conn.cursor() as cur:
            cur.execute(f"REPLACE INTO `{DB}`.lf_heartbeat (id, beat_at, node) VALUES (1, UTC_TIMESTAMP(6), 'a')")


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    tmp = tmp_path_factory.mktemp("routing")
    with throwaway_mariadb(tmp) as primary, throwaway_mariadb(tmp, writable=False) as replica:
        Replication(primary.server).ensure_replication_user("repl", "repl-secret")
        url = primary.url(DB)
        engine = make_engine(url, write=True)
        migrate(engine)
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE probe (id INT PRIMARY KEY, v VARCHAR(10))"))
        engine.dispose()
        Replication(replica.server).replicate_from("127.0.0.1", primary.port, "repl", "repl-secret")
        Replication(replica.server).wait_replicating()
        yield Pair(primary, replica, tmp / "run" / "db-endpoints.json")


def _server_port(engines: RoutedEngines, *, write: bool) -> int:
    with engines.connect(write=write) as conn:
        return int(conn.execute(sa.text("SELECT @@port")).scalar_one())


def test_a_new_writer_is_followed_without_a_restart(pair: Pair, tmp_path: Path) -> None:
    pair.endpoints = tmp_path / "db-endpoints.json"
    pair.publish(1, pair.primary, [])
    engines = pair.engines()
    try:
        assert _server_port(engines, write=True) == pair.primary.port
        pair.publish(2, pair.replica, [])
        assert _server_port(engines, write=True) == pair.replica.port
        assert engines.describe()["generation"] == 2
    finally:
        engines.dispose()


def test_a_writer_published_during_the_wait_is_used_and_none_at_all_is_unavailable(pair: Pair,
                                                                                    tmp_path: Path) -> None:
    pair.endpoints = tmp_path / "db-endpoints.json"
    pair.publish(1, None, [])  # a switchover in progress: no writer
    engines = pair.engines(failover_wait_s=10.0)
    try:
        timer = threading.Timer(0.3, lambda: pair.publish(2, pair.primary, []))
        timer.start()
        assert _server_port(engines, write=True) == pair.primary.port  # waited, did not fail
        timer.join()
    finally:
        engines.dispose()
    pair.publish(3, None, [])
    engines = pair.engines(failover_wait_s=0.2)
    try:
        with pytest.raises(DatabaseUnavailable):
            engines.connect(write=True)
    finally:
        engines.dispose()


def test_a_writer_that_refuses_connections_is_waited_out_until_a_new_one_is_published(pair: Pair,
                                                                                      tmp_path: Path) -> None:
    pair.endpoints = tmp_path / "db-endpoints.json"
    dead = Node("gone", "127.0.0.1", 1)  # nothing listens on port 1
    write_endpoints(pair.endpoints, Endpoints(1, dead, ()))
    engines = pair.engines(failover_wait_s=10.0)
    try:
        timer = threading.Timer(0.3, lambda: pair.publish(2, pair.primary, []))
        timer.start()
        assert _server_port(engines, write=True) == pair.primary.port
        timer.join()
    finally:
        engines.dispose()


def test_reads_go_to_the_replica_while_its_lag_is_in_bound_then_to_the_primary(pair: Pair, tmp_path: Path) -> None:
    pair.endpoints = tmp_path / "db-endpoints.json"
    pair.publish(1, pair.primary, [pair.replica])
    engines = pair.engines(max_lag_ms=300, lag_check_s=0.0)
    try:
        pair.beat()
        assert Replication(pair.replica.server).wait_for_gtid(_binlog_pos(pair.primary), timeout=10)
        assert _server_port(engines, write=False) == pair.replica.port
        assert engines.lag_ms() is not None
        with pair.replica.server.connect_root() as conn, conn.cursor() as cur:
            cur.execute("STOP SLAVE SQL_THREAD")
        try:
            deadline = time.monotonic() + 10
            port = pair.replica.port
            while port == pair.replica.port and time.monotonic() < deadline:
                pair.beat()  # the primary keeps beating; the stopped replica does not apply it
                time.sleep(0.1)
                port = _server_port(engines, write=False)
            assert port == pair.primary.port, "reads stayed on a replica whose lag exceeds the bound"
            # The writer is never the lagging replica, whatever the lag.
            assert _server_port(engines, write=True) == pair.primary.port
        finally:
            with pair.replica.server.connect_root() as conn, conn.cursor() as cur:
                cur.execute("START SLAVE SQL_THREAD")
        pair.beat()
        assert Replication(pair.replica.server).wait_for_gtid(_binlog_pos(pair.primary), timeout=10)
        assert _server_port(engines, write=False) == pair.replica.port
        assert engines.reads_routed["reader"] >= 2 and engines.reads_routed["writer"] >= 1
    finally:
        engines.dispose()


def test_a_replica_without_a_heartbeat_serves_no_reads(pair: Pair, tmp_path: Path) -> None:
    pair.endpoints = tmp_path / "db-endpoints.json"
    with pair.primary.server.connect_root() as conn, conn.cursor() as cur:
        cur.execute(f"DELETE FROM `{DB}`.lf_heartbeat")
    assert Replication(pair.replica.server).wait_for_gtid(_binlog_pos(pair.primary), timeout=10)
    pair.publish(1, pair.primary, [pair.replica])
    engines = pair.engines(max_lag_ms=60_000, lag_check_s=0.0)
    try:
        assert _server_port(engines, write=False) == pair.primary.port
    finally:
        engines.dispose()


def _binlog_pos(handle: MariaDBHandle) -> str:
    with handle.server.connect_root() as conn, conn.cursor() as cur:
        cur.execute("SELECT @@gtid_binlog_pos")
        row = cur.fetchone()
    return str(row[0]) if row else ""
