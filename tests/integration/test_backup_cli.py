"""`lakefront backup` then `lakefront restore --latest` as a user runs them: subprocesses, services profile,
a MariaDB node where `up` keeps it (var/mariadb) and the backups bucket on a real SeaweedFS."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lakefront.data.objects import AREAS
from lakefront.data.objects.s3 import S3Store
from lakefront.servers.managed import node_server
from lakefront.servers.mariadb import MariaDBServer
from lakefront.servers.procs import free_port
from lakefront.servers.replication import Replication
from lakefront.servers.seaweedfs import SeaweedFSServer
from support.servers import mariadb_template

DB = "shop"


def _exec(server: MariaDBServer, sql: str) -> list[tuple[Any, ...]]:
    with server.connect_root() as conn, conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


@pytest.fixture
def managed(tmp_path: Path, seaweedfs_server: SeaweedFSServer) -> Iterator[tuple[MariaDBServer, dict[str, str]]]:
    var = tmp_path / "var"
    server = node_server(var, "db-1", free_port(), read_only_at_start=False)
    server.initialize(template=mariadb_template())
    server.start_ready()
    try:
        Replication(server).promote()
        _exec(server, f"CREATE DATABASE {DB}")
        _exec(server, f"CREATE TABLE {DB}.orders (id INT AUTO_INCREMENT PRIMARY KEY, cents BIGINT NOT NULL)")
        bucket = f"cli-{tmp_path.name[-12:].lower().replace('_', '-')}".rstrip("-")
        for area in AREAS:
            with S3Store(seaweedfs_server.endpoint_url, f"{bucket}-{area}", "us-east-1", seaweedfs_server.access_key,
                         seaweedfs_server.secret_key) as store:
                store.ensure_bucket()
        env = {**os.environ, "LAKEFRONT_PROFILE": "services", "LAKEFRONT_VAR_DIR": str(var),
               "LAKEFRONT_DB__PORT": str(server.port), "LAKEFRONT_DB__NAME": DB, "LAKEFRONT_DB__STANDBY": "false",
               "LAKEFRONT_OBJECTS__S3_ENDPOINT": seaweedfs_server.endpoint_url, "LAKEFRONT_OBJECTS__BUCKET": bucket,
               "LAKEFRONT_OBJECTS__ACCESS_KEY": seaweedfs_server.access_key,
               "LAKEFRONT_OBJECTS__SECRET_KEY": seaweedfs_server.secret_key}
        yield server, env
    finally:
        server.stop()


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lakefront", *args], env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def test_backup_then_restore_latest_through_the_cli_gives_the_same_rows(
        managed: tuple[MariaDBServer, dict[str, str]], tmp_path: Path) -> None:
    server, env = managed
    _exec(server, f"INSERT INTO {DB}.orders (cents) SELECT seq FROM {DB}.seq_1_to_500")
    done = _cli(env, "backup")
    assert done.returncode == 0, done.stderr
    _exec(server, f"INSERT INTO {DB}.orders (cents) VALUES (7), (8)")  # after the base: replayed from binlogs
    into = tmp_path / "restored"
    port = free_port()
    done = _cli(env, "restore", "--latest", "--into", str(into), "--port", str(port))
    assert done.returncode == 0, done.stderr
    assert f"port {port}" in done.stdout and f"--defaults-file={into.resolve()}/my.cnf" in done.stdout
    # The CLI shuts its node down cleanly on exit and prints how to start it: start it as the user would.
    restored = MariaDBServer(into, port, server_id=900)
    restored.start_ready()
    try:
        source = _exec(server, f"SELECT id, cents FROM {DB}.orders ORDER BY id")
        assert len(source) == 502
        assert _exec(restored, f"SELECT id, cents FROM {DB}.orders ORDER BY id") == source
    finally:
        restored.stop()


@pytest.mark.parametrize("to", ["yesterday-ish", "2000-01-01T00:00:00Z"])
def test_a_bad_to_is_one_line_and_exit_2(managed: tuple[MariaDBServer, dict[str, str]], to: str) -> None:
    _, env = managed
    assert _cli(env, "backup").returncode == 0
    done = _cli(env, "restore", "--to", to)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert ("not a time" if "ish" in to else "outside the window") in done.stderr
