"""The NLB role on real servers: HAProxy in front of a throwaway MariaDB primary + standby run by the control
plane's own database code (control/database), following its failovers (control/nlb.py).

HAProxy connects to the nodes from a loopback address of its own (NLB_SOURCE), so each node's processlist
tells the connections that came through the NLB from everyone else's (the monitor, the test's root sessions).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any

import pymysql
import pytest

from lakefront.control.database import DatabaseCluster
from lakefront.control.nlb import WriterEndpoint, nlb_for
from lakefront.control.status import nlb_row
from lakefront.data.endpoints import Endpoints, Node
from lakefront.servers.base import HOST
from lakefront.servers.haproxy import HAProxyServer, Target
from lakefront.servers.procs import free_port
from lakefront.settings import Settings, load_settings
from support import eventually
from support.servers import mariadb_template

log = logging.getLogger("lakefront.tests.nlb")

NLB_SOURCE = "127.0.0.7"


class Pair:
    def __init__(self, settings: Settings, cluster: DatabaseCluster, nlb: WriterEndpoint) -> None:
        self.settings, self.cluster, self.nlb = settings, cluster, nlb

    def through_nlb(self) -> pymysql.Connection[Any]:
        db = self.settings.db
        return pymysql.connect(host=HOST, port=self.settings.nlb.port, user=db.user,
                               password=db.password.get_secret_value(), database=db.name, autocommit=True,
                               connect_timeout=2, read_timeout=10)

    def port(self, name: str) -> int:
        return self.cluster.nodes[name].port

    def nlb_sessions(self, name: str) -> int:
        """Connections open on node `name` that came through the NLB (from its source address)."""
        with closing(self.cluster.nodes[name].server.connect_root()) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM information_schema.processlist WHERE host LIKE %s", (f"{NLB_SOURCE}:%",))
            return int(cur.fetchone()[0])

    def haproxy_total(self, name: str) -> int:
        """Connections HAProxy has ever sent to node `name`."""
        return int(self.nlb.server.servers()[name]["stot"])


def _query(conn: pymysql.Connection[Any], sql: str, args: Any = None) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def _reached(pair: Pair) -> int | None:
    """The port of the node a new connection through the NLB lands on, or None when it is refused."""
    try:
        with closing(pair.through_nlb()) as conn:
            return int(_query(conn, "SELECT @@port")[0][0])
    except pymysql.MySQLError:
        return None


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    settings = load_settings(profile="services", var_dir=tmp_path / "var",
                             db={"port": free_port(), "standby_port": free_port(), "probe_interval_s": 0.1},
                             nlb={"port": free_port(), "check_interval_ms": 200})
    cluster = DatabaseCluster(settings)
    for node in cluster.nodes.values():
        node.server.initialize(template=mariadb_template())  # a copy: faster than installing twice
    nlb = nlb_for(settings, cluster)
    nlb.server.source = NLB_SOURCE
    with ExitStack() as stack:
        stack.callback(cluster.stop)
        cluster.start()
        stack.callback(nlb.stop)
        nlb.start()
        roles = cluster.roles
        # Failing over is refused unless the standby was in sync at the monitor's last look.
        eventually(lambda: roles.readers == [roles.standby] and roles.standby_in_sync is True,
                    "the standby replicating in sync")
        yield Pair(settings, cluster, nlb)


def test_after_a_failover_the_same_endpoint_reaches_the_new_primary_and_never_the_old_one(pair: Pair) -> None:
    cluster = pair.cluster
    old, new = cluster.roles.primary, cluster.roles.standby
    with closing(pair.through_nlb()) as conn:
        assert _query(conn, "SELECT @@port")[0][0] == pair.port(old)
        _query(conn, "CREATE TABLE notes (id INT PRIMARY KEY, note VARCHAR(20) NOT NULL)")
        _query(conn, "INSERT INTO notes VALUES (1, 'before')")
    before_failover = pair.haproxy_total(old)

    cluster.nodes[old].server.kill()  # a crash: the monitor's probes fail, it promotes the standby
    eventually(lambda: cluster.roles.primary == new, "the standby promoted")
    eventually(lambda: _reached(pair) == pair.port(new), "the endpoint reaching the new primary")

    with closing(pair.through_nlb()) as conn:
        assert _query(conn, "SELECT @@port, @@read_only")[0] == (pair.port(new), 0)
        _query(conn, "INSERT INTO notes VALUES (2, 'after')")
    with closing(cluster.nodes[new].server.connect_root()) as root:
        assert _query(root, f"SELECT id, note FROM {pair.settings.db.name}.notes ORDER BY id") == [
            (1, "before"), (2, "after")]

    # The old primary comes back (read-only) and rejoins as the standby: it is alive and listening, yet the
    # endpoint never sends it a connection.
    eventually(lambda: cluster.roles.readers == [old] and cluster.nodes[old].alive(), "the old primary rejoined",
                timeout=60)
    with ExitStack() as held:
        conns = [held.enter_context(closing(pair.through_nlb())) for _ in range(5)]
        assert {_query(c, "SELECT @@port")[0][0] for c in conns} == {pair.port(new)}
        assert pair.nlb_sessions(new) >= 5
        assert pair.nlb_sessions(old) == 0
    assert pair.haproxy_total(old) == before_failover
    assert pair.nlb.server.servers()[old]["status"].startswith("MAINT")
    assert pair.nlb.describe()["writer"] == new
    row = nlb_row(pair.nlb.describe())  # what `lakefront status` shows, read from HAProxy itself
    assert row.status == "ok"
    assert f"-> {new} {HOST}:{pair.port(new)}" in row.detail and f"{old} {HOST}:{pair.port(old)} MAINT" in row.detail


def test_a_switchover_cuts_the_sessions_on_the_old_primary_and_new_ones_reach_the_new_one(pair: Pair) -> None:
    cluster = pair.cluster
    old, new = cluster.roles.primary, cluster.roles.standby
    held = pair.through_nlb()
    try:
        assert _query(held, "SELECT @@port")[0][0] == pair.port(old)
        assert pair.nlb_sessions(old) == 1

        cluster.switchover("test")  # the old primary stays up (fenced read-only) and becomes the standby

        # Its session through the NLB was cut, not left open on a read-only node.
        with pytest.raises(pymysql.err.OperationalError):
            _query(held, "SELECT 1")
    finally:
        held.close()
    assert pair.nlb_sessions(old) == 0
    assert _reached(pair) == pair.port(new)
    with closing(pair.through_nlb()) as conn:
        _query(conn, "CREATE TABLE after_switch (id INT PRIMARY KEY)")
        _query(conn, "INSERT INTO after_switch VALUES (1)")


def test_a_killed_haproxy_is_restarted_pointing_at_the_current_writer(pair: Pair) -> None:
    cluster = pair.cluster
    old, new = cluster.roles.primary, cluster.roles.standby
    cluster.switchover("before-the-crash")
    pair.nlb.server.kill()
    assert _reached(pair) is None
    eventually(pair.nlb.tick, "the NLB restarted")
    eventually(lambda: _reached(pair) == pair.port(new), "the restarted endpoint reaching the new primary")
    assert pair.nlb.server.servers()[old]["status"].startswith("MAINT")
    assert pair.nlb.restarts == 1


def test_the_same_writer_published_again_cuts_no_session(pair: Pair) -> None:
    primary = pair.cluster.roles.primary
    with closing(pair.through_nlb()) as held:
        assert _query(held, "SELECT @@port")[0][0] == pair.port(primary)
        changes = pair.nlb.changes
        pair.cluster.roles.publish()  # what a standby rejoining does: new readers, the same writer
        assert _query(held, "SELECT @@port")[0][0] == pair.port(primary)
        assert pair.nlb.changes == changes


def test_a_writer_published_at_a_new_address_is_followed_there(pair: Pair, tmp_path: Path) -> None:
    """HAProxy's runtime API moves a server (`set server ... addr ... port ...`) without a restart."""
    primary = pair.cluster.roles.primary
    # A second endpoint whose config has the primary at a port where nothing listens.
    moved = HAProxyServer(tmp_path / "moved", free_port(), [Target(primary, HOST, free_port())], writer=primary)
    endpoint = WriterEndpoint(moved)
    endpoint.start()
    try:
        pid = moved.pid
        endpoint.follow(Endpoints(generation=1, writer=Node(primary, HOST, pair.port(primary))))
        db = pair.settings.db
        with closing(pymysql.connect(host=HOST, port=moved.port, user=db.user, password=db.password.get_secret_value(),
                                     database=db.name, connect_timeout=2)) as conn:
            assert _query(conn, "SELECT @@port")[0][0] == pair.port(primary)
        assert moved.pid == pid and endpoint.last_error is None
        assert moved.servers()[primary]["addr"] == f"{HOST}:{pair.port(primary)}"
    finally:
        endpoint.stop()
