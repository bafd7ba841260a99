"""Real MariaDB and Redis servers started, faulted and stopped the way the services profile does it."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pymysql
import pytest
import redis
import sqlalchemy as sa

from lakefront.data.endpoints import writer_url
from lakefront.data.engines import make_engine
from lakefront.data.migrations import migrate
from lakefront.servers import managed
from lakefront.servers import mariadb as mariadb_module
from lakefront.servers.mariadb import MariaDBError, find_binaries
from lakefront.servers.procs import free_port, pid_alive
from lakefront.settings import CacheSettings, DatabaseSettings, Profile, Settings
from support.servers import (
    LOOPBACK_V4,
    MariaDBHandle,
    RedisHandle,
    free_port_run,
    listen_addresses,
    listener_pids,
    throwaway_mariadb,
    throwaway_redis,
)

SYSTEM_PORTS = (3306, 6379)
_system_pids: dict[int, set[int]] = {}


@pytest.fixture(scope="module", autouse=True)
def _record_system_servers() -> None:
    # Taken before any server of ours starts; the last test compares.
    for port in SYSTEM_PORTS:
        _system_pids.setdefault(port, listener_pids(port))


@contextmanager
def _engine(url: str) -> Iterator[sa.Engine]:
    engine = make_engine(url, write=True, pool_size=2)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def migrated(mariadb_server: MariaDBHandle) -> Iterator[sa.Engine]:
    url = mariadb_server.fresh_url()
    with _engine(url) as engine:
        migrate(engine)
        yield engine


def test_a_missing_mariadb_says_which_package_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(mariadb_module, "_SEARCH_DIRS", (tmp_path,))
    with pytest.raises(MariaDBError, match="apt-get install mariadb-server"):
        find_binaries()


def test_concurrent_installs_each_get_a_datadir_and_servers_keep_temporary_files_at_home(tmp_path: Path) -> None:
    # Bootstrap servers sharing /tmp collided on temporary table names: about half of 12 concurrent
    # installs aborted (seen in CI as a standby that could not be created beside a starting primary).
    dirs = [tmp_path / f"d{i}" for i in range(8)]
    with ThreadPoolExecutor(max_workers=len(dirs)) as pool:
        list(pool.map(mariadb_module.install_datadir, dirs))  # raises MariaDBError if any aborts
    with throwaway_mariadb(tmp_path) as db, db.server.connect_root() as conn, conn.cursor() as cur:
        cur.execute("SELECT @@tmpdir")
        (tmpdir,) = cur.fetchone()
    assert Path(tmpdir).is_relative_to(db.server.root.resolve())


def test_the_migrations_make_innodb_utf8mb4_tables_on_mariadb(migrated: sa.Engine) -> None:
    with migrated.connect() as conn:
        schema = conn.execute(sa.text("SELECT DATABASE()")).scalar_one()
        tables = conn.execute(sa.text(
            "SELECT table_name, engine, table_collation FROM information_schema.tables "
            "WHERE table_schema = :s AND table_type = 'BASE TABLE'"), {"s": schema}).all()
        charsets = set(conn.execute(sa.text(
            "SELECT DISTINCT character_set_name FROM information_schema.columns "
            "WHERE table_schema = :s AND character_set_name IS NOT NULL"), {"s": schema}).scalars())
    names = {row.table_name for row in tables}
    assert {"alembic_version", "customers", "categories"} <= names
    assert {row.engine for row in tables} == {"InnoDB"}
    assert {row.table_collation.split("_")[0] for row in tables} == {"utf8mb4"}
    assert charsets == {"utf8mb4"}


def test_the_app_user_writes_while_the_server_listens_on_loopback_only(migrated: sa.Engine,
                                                                        mariadb_server: MariaDBHandle) -> None:
    with migrated.begin() as conn:
        conn.execute(sa.text("INSERT INTO categories (slug, name, description, created_at, updated_at) "
                             "VALUES ('tea', 'Thé vert 🍵', '', NOW(6), NOW(6))"))
    with migrated.connect() as conn:
        assert conn.execute(sa.text("SELECT name FROM categories WHERE slug = 'tea'")).scalar_one() == "Thé vert 🍵"
        assert conn.execute(sa.text("SELECT CURRENT_USER()")).scalar_one() == "app@%"
        assert conn.execute(sa.text("SELECT @@bind_address")).scalar_one() == "127.0.0.1"
    assert listen_addresses(mariadb_server.port) == {LOOPBACK_V4}


def test_committed_rows_survive_a_sigkill_and_a_restart_on_the_same_datadir(tmp_path: Path) -> None:
    with throwaway_mariadb(tmp_path) as db:
        url = db.url("crash")
        with _engine(url) as engine, engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE orders (id INT PRIMARY KEY, note VARCHAR(20)) ENGINE=InnoDB"))
            conn.execute(sa.text("INSERT INTO orders VALUES (1, 'paid'), (2, 'shipped')"))
        pid = db.server.pid
        assert pid is not None
        db.server.kill()
        assert not pid_alive(pid)
        db.server.start(tmp_path / "restart.log")
        db.server.wait_ready()
        with _engine(url) as engine, engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, note FROM orders ORDER BY id")).all()
        assert [tuple(row) for row in rows] == [(1, "paid"), (2, "shipped")]


def test_stopping_leaves_no_process_no_directory_and_no_socket(tmp_path: Path) -> None:
    with throwaway_mariadb(tmp_path) as db, throwaway_redis(tmp_path) as cache:
        pids = [db.server.pid, cache.server.pid]
        socket_path, root = db.server.socket_path, db.server.root
        assert socket_path.exists()
    assert all(pid is not None and not pid_alive(pid) for pid in pids)
    assert not socket_path.exists()
    assert not root.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_server_in_a_deep_directory_puts_its_socket_in_tmp_and_removes_it(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    with throwaway_mariadb(deep) as db:
        socket_path = db.server.socket_path
        assert not socket_path.is_relative_to(tmp_path)
        assert db.url("deep").endswith("/deep?charset=utf8mb4")  # root reached it over that socket
    assert not socket_path.exists()


def test_redis_answers_ping_and_times_out_while_paused(redis_server: RedisHandle) -> None:
    with redis.Redis.from_url(redis_server.url, socket_timeout=0.3, socket_connect_timeout=0.3) as client:
        assert client.ping()
        client.set("lakefront:test:key", "v")
        redis_server.server.pause()
        try:
            with pytest.raises(redis.TimeoutError):
                client.get("lakefront:test:key")
        finally:
            redis_server.server.resume()
        # The timed-out connection is dropped; the next command opens a fresh one.
        assert client.get("lakefront:test:key") == b"v"
    assert listen_addresses(redis_server.port) == {LOOPBACK_V4}


def test_the_managed_servers_under_var_serve_the_settings_urls(tmp_path: Path) -> None:
    settings = Settings(profile=Profile.services, var_dir=tmp_path / "var",
                        db=DatabaseSettings(port=free_port()),
                        # A cluster's nodes take port, +1, ... and their buses +10000: a run below 32768.
                        cache=CacheSettings(port=free_port_run(10)))
    server = managed.start(settings, "database")
    try:
        with _engine(writer_url(settings)) as engine, engine.connect() as conn:
            assert conn.execute(sa.text("SELECT DATABASE()")).scalar_one() == settings.db.name
        server.stop()
        # A second start finds the datadir initialised and the user already there.
        server = managed.start(settings, "database")
        with pymysql.connect(host="127.0.0.1", port=settings.db.port, user=settings.db.user,
                             password=settings.db.password.get_secret_value(), database=settings.db.name) as conn:
            assert conn.open
    finally:
        server.stop()
    cache = managed.start(settings, "cache")
    try:
        # The services profile's cache is a cluster: redis://host:port,host:port,.../0, every node answers.
        nodes = settings.redis_url.removeprefix("redis://").split("/")[0].split(",")
        assert len(nodes) == settings.cache.cluster_primaries * (1 + settings.cache.cluster_replicas)
        for node in nodes:
            host, _, port = node.rpartition(":")
            with redis.Redis(host=host, port=int(port)) as client:
                assert client.ping()
    finally:
        cache.stop()
    assert not (tmp_path / "var" / "mariadb" / "sock").exists()


def test_the_system_servers_on_3306_and_6379_are_untouched() -> None:
    assert {port: listener_pids(port) for port in SYSTEM_PORTS} == _system_pids
