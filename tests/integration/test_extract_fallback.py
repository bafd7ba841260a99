"""`lakefront extract` on a real MariaDB pair (a primary and its replica) when the standby it reads cannot serve:
stopped, or frozen (SIGSTOP: it accepts connections and answers nothing). With extract.primary_fallback (the
default) the run reads the primary instead, says so in one log line and records the endpoint in each table's
commit; without it the run fails in one line and commits nothing.
"""

from __future__ import annotations

import contextlib
import itertools
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from lakefront.analytics.extract import EXTRACT_TABLES, PAUSE_ENV
from lakefront.analytics.lake import Lake, raw_name
from lakefront.data import tables as t
from lakefront.data.endpoints import Endpoints, Node, write_endpoints
from lakefront.demo import seed
from lakefront.servers.replication import Replication
from lakefront.settings import DatabaseSettings, LakeSettings, ObjectStoreSettings, Settings
from support import LAKEFRONT, lakefront_env, run_cli
from support.servers import APP_PASSWORD, APP_USER, MariaDBHandle, throwaway_mariadb

DB = "fallback"
TIMEOUT_S = 3  # extract.standby_timeout_s in these runs
_prefixes = itertools.count(1)


@dataclass
class Pair:
    primary: MariaDBHandle
    replica: MariaDBHandle
    var_dir: Path

    def settings(self, prefix: str = "lake") -> Settings:
        return Settings(var_dir=self.var_dir, profile="services", lake=LakeSettings(prefix=prefix),
                        db=DatabaseSettings(port=self.primary.port, standby_port=self.replica.port, name=DB,
                                            user=APP_USER, password=APP_PASSWORD),
                        objects=ObjectStoreSettings(backend="directory"))

    def env(self, prefix: str, **extra: str) -> dict[str, str]:
        return lakefront_env(self.var_dir, LAKEFRONT_PROFILE="services", LAKEFRONT_DB__PORT=str(self.primary.port),
                             LAKEFRONT_DB__STANDBY_PORT=str(self.replica.port), LAKEFRONT_DB__NAME=DB,
                             LAKEFRONT_DB__USER=APP_USER, LAKEFRONT_DB__PASSWORD=APP_PASSWORD,
                             LAKEFRONT_OBJECTS__BACKEND="directory", LAKEFRONT_LAKE__PREFIX=prefix,
                             LAKEFRONT_EXTRACT__STANDBY_TIMEOUT_S=str(TIMEOUT_S), **extra)

    def beat(self) -> None:
        """A fresh heartbeat on the primary, applied by the standby: its lag alone never sends a run elsewhere."""
        with self.primary.server.connect_root() as conn, conn.cursor() as cur:
            cur.execute(f"REPLACE INTO `{DB}`.lf_heartbeat (id, beat_at, node) VALUES (1, UTC_TIMESTAMP(6), 'db-1')")
            cur.execute("SELECT @@gtid_binlog_pos")
            row = cur.fetchone()
        assert Replication(self.replica.server).wait_for_gtid(str(row[0]) if row else "", timeout=30)

    def source_ids(self, table: str) -> list[int]:
        engine = sa.create_engine(self.primary.url(DB), poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                return sorted(conn.execute(sa.select(t.metadata.tables[table].c.id)).scalars())
        finally:
            engine.dispose()

    def restart_replica(self) -> None:
        self.replica.server.start()
        self.replica.server.wait_ready()
        with self.replica.server.connect_root() as conn, conn.cursor() as cur:
            cur.execute("START SLAVE")  # nodes restart with replication stopped
        Replication(self.replica.server).wait_replicating()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    tmp = tmp_path_factory.mktemp("fallback")
    with throwaway_mariadb(tmp) as primary, throwaway_mariadb(tmp, writable=False) as replica:
        Replication(primary.server).ensure_replication_user("repl", "repl-secret")
        primary.url(DB)  # the database and the app user, replicated to the standby below
        Replication(replica.server).replicate_from("127.0.0.1", primary.port, "repl", "repl-secret")
        Replication(replica.server).wait_replicating()
        found = Pair(primary, replica, tmp / "var")
        settings = found.settings()
        # What the failover monitor publishes while `up` runs: the primary writes, the standby reads.
        assert settings.db_endpoints_file is not None
        write_endpoints(settings.db_endpoints_file, Endpoints(
            1, Node("db-1", "127.0.0.1", primary.port), (Node("db-2", "127.0.0.1", replica.port),)))
        # History ends two days ago: no row is younger than the safety lag.
        seed(settings, scale=0.01, seed=3, until=date.today() - timedelta(days=2), progress=False)
        found.beat()
        yield found


def _prefix() -> str:
    return f"lake{next(_prefixes)}"


def _sources(pair: Pair, prefix: str) -> dict[str, str | None]:
    """{table: the endpoint its commit says it read}, None for a table with no commit."""
    with Lake(pair.settings(prefix)) as lake:
        commits = {table: lake.last_commit(raw_name(table)) for table in EXTRACT_TABLES}
    return {table: None if c is None else c.properties.get("source") for table, c in commits.items()}


def _assert_lake_ids_equal_source_ids(pair: Pair, prefix: str) -> None:
    with Lake(pair.settings(prefix)) as lake:
        for table in EXTRACT_TABLES:
            ids = sorted(lake.read(raw_name(table)).column("id").to_pylist())
            source = pair.source_ids(table)
            assert source, f"{table}: the seed wrote no rows"
            assert ids == source, f"{table}: the lake's ids differ from the source's"


def _said(stdout: str) -> dict[str, str]:
    """{table: the endpoint its output line names}: "orders: 1,234 rows from the primary 127.0.0.1:P, ..."."""
    return {line.split(":", 1)[0]: line.split(" rows from the ", 1)[1].split(",", 1)[0]
            for line in stdout.splitlines()}


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "reading the primary" in line]


def test_a_healthy_standby_is_read_and_each_commit_says_so(pair: Pair) -> None:
    pair.beat()
    prefix = _prefix()
    done = run_cli(pair.var_dir, "extract", env=pair.env(prefix))
    assert done.returncode == 0, done.stderr
    standby = f"standby 127.0.0.1:{pair.replica.port}"
    assert _sources(pair, prefix) == dict.fromkeys(EXTRACT_TABLES, standby)
    assert _said(done.stdout) == dict.fromkeys(EXTRACT_TABLES, standby), done.stdout
    assert not _warnings(done.stderr), done.stderr
    _assert_lake_ids_equal_source_ids(pair, prefix)


@contextlib.contextmanager
def _standby_out(pair: Pair, outage: str) -> Iterator[None]:
    """The standby stopped (then restarted) or frozen with SIGSTOP (then resumed) for the block."""
    proc = pair.replica.server.proc
    assert proc is not None
    if outage == "stopped":
        pair.replica.server.stop()
    else:
        proc.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        if outage == "stopped":
            pair.restart_replica()
        else:
            proc.send_signal(signal.SIGCONT)


@pytest.mark.parametrize("outage", ["stopped", "frozen"])
def test_an_unreachable_standby_is_replaced_by_the_primary_in_one_line(pair: Pair, outage: str) -> None:
    pair.beat()
    prefix = _prefix()
    with _standby_out(pair, outage):
        # Bounded: a run that hung on the frozen standby fails here instead of hanging the suite.
        done = run_cli(pair.var_dir, "extract", env=pair.env(prefix), timeout=180)
    assert done.returncode == 0, done.stderr
    warnings = _warnings(done.stderr)
    assert len(warnings) == 1, done.stderr
    assert f"standby 127.0.0.1:{pair.replica.port} is unreachable within {TIMEOUT_S} s" in warnings[0]
    primary = f"primary 127.0.0.1:{pair.primary.port}"
    assert primary in warnings[0]
    assert _sources(pair, prefix) == dict.fromkeys(EXTRACT_TABLES, primary)
    assert _said(done.stdout) == dict.fromkeys(EXTRACT_TABLES, primary), done.stdout
    _assert_lake_ids_equal_source_ids(pair, prefix)


def test_a_standby_frozen_mid_run_leaves_the_remaining_tables_to_the_primary(pair: Pair) -> None:
    pair.beat()
    prefix = _prefix()
    proc = pair.replica.server.proc
    assert proc is not None
    # The pause hook holds the run after it read categories (from the standby) and before it commits them;
    # the standby freezes there, between two reads.
    run = subprocess.Popen([LAKEFRONT, "extract"], env=pair.env(prefix, **{PAUSE_ENV: "5"}),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    frozen = False
    try:
        assert run.stderr is not None
        lines = []
        for line in run.stderr:
            lines.append(line)
            if "paused before committing categories " in line:
                proc.send_signal(signal.SIGSTOP)
                frozen = True
                break
        assert frozen, "".join(lines)
        out, err = run.communicate(timeout=300)
    finally:
        if frozen:
            proc.send_signal(signal.SIGCONT)
        if run.poll() is None:
            run.kill()
            run.wait()
    err = "".join(lines) + err
    assert run.returncode == 0, err
    warnings = _warnings(err)
    assert len(warnings) == 1, err
    assert f"standby 127.0.0.1:{pair.replica.port} is lost after reading categories" in warnings[0]
    sources = _sources(pair, prefix)
    primary = f"primary 127.0.0.1:{pair.primary.port}"
    assert sources == {"categories": f"standby 127.0.0.1:{pair.replica.port}",
                       **dict.fromkeys(EXTRACT_TABLES[1:], primary)}
    assert _said(out) == sources, out
    _assert_lake_ids_equal_source_ids(pair, prefix)


@pytest.mark.parametrize("outage", ["stopped", "frozen"])
def test_without_primary_fallback_an_unreachable_standby_fails_in_one_line_and_commits_nothing(
        pair: Pair, outage: str) -> None:
    pair.beat()
    prefix = _prefix()
    with _standby_out(pair, outage):
        done = run_cli(pair.var_dir, "extract", env=pair.env(prefix, LAKEFRONT_EXTRACT__PRIMARY_FALLBACK="false"),
                       timeout=180)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"standby 127.0.0.1:{pair.replica.port} is unreachable" in lines[0]
    assert "extract.primary_fallback is off" in lines[0]
    assert "Traceback" not in done.stderr and not done.stdout
    assert _sources(pair, prefix) == dict.fromkeys(EXTRACT_TABLES)
