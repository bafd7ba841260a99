"""Writer and reader engines: the primary and the read endpoint of the database tier.

SQLite (embedded profile) runs in WAL mode so readers never block the writer. Write
transactions start with BEGIN IMMEDIATE: they take the write lock up front, so two writers
queue on busy_timeout instead of deadlocking when both try to upgrade a read lock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.pool import QueuePool


class QueryCounter:
    """Counts statements sent to the database by this process, per engine role (for /metrics and benches)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {"writer": 0, "reader": 0}

    def attach(self, engine: Engine, role: str) -> None:
        self.counts.setdefault(role, 0)

        @sa.event.listens_for(engine, "before_cursor_execute")
        def _count(*_: Any) -> None:
            self.counts[role] += 1


class DatabaseUnavailable(Exception):
    """No primary could be reached within the failover wait; the API answers 503 with Retry-After."""


class Engines:
    """The writer and reader engines of one process (fixed URLs: SQLite, or endpoints from the settings)."""

    def __init__(self, writer: Engine, reader: Engine, queries: QueryCounter | None = None) -> None:
        self._writer = writer
        self._reader = reader
        self.queries = queries or QueryCounter()
        self.queries.attach(writer, "writer")
        if reader is not writer:
            self.queries.attach(reader, "reader")

    @property
    def writer(self) -> Engine:
        return self._writer

    @property
    def reader(self) -> Engine:
        return self._reader

    @property
    def dialect(self) -> str:
        """The database's kind (sqlite, mysql, ...), known without a connection."""
        return self._writer.dialect.name

    @property
    def routes_reads(self) -> bool:
        """True when reads may be served by a standby that lags the primary (a reader_url of its own)."""
        return self._reader.url != self._writer.url and self._reader.dialect.name != "sqlite"

    def connect(self, *, write: bool, fresh: bool = False) -> sa.Connection:
        """A connection to the primary (write, or fresh: must see the latest commits) or to a reader."""
        return (self.writer if write or fresh else self.reader).connect()

    def describe(self) -> dict[str, Any]:
        return {"writer": self.writer.url.render_as_string(hide_password=True),
                "reader": self.reader.url.render_as_string(hide_password=True)}

    def dispose(self) -> None:
        self._writer.dispose()
        if self._reader is not self._writer:
            self._reader.dispose()


def _sqlite_engine(url: str, *, write: bool, busy_timeout_ms: int, pool_size: int, create: bool) -> Engine:
    engine = sa.create_engine(
        url,
        poolclass=QueuePool,
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
    )

    if not create:
        @sa.event.listens_for(engine, "do_connect")
        def _existing_file_only(_dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
            # SQLite creates a missing file: a database moved or deleted under a running tier would come
            # back as an empty one ("no such table", a 500), and stay so for the connections opened on it
            # once the file is back. mode=rw fails instead ("unable to open database file": a 503).
            cargs[0] = Path(cargs[0]).absolute().as_uri() + "?mode=rw"
            cparams["uri"] = True

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event decide how transactions start (pysqlite's own is wrong).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def make_engine(url: str, *, write: bool, busy_timeout_ms: int = 15000, pool_size: int = 8,
                read_timeout_s: float | None = None, connect_timeout_s: float = 2, create: bool = True) -> Engine:
    """An engine on `url`. create=False (SQLite): never create the file, which only migrations may do."""
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and create:
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        file = url.startswith("sqlite:///") and url != "sqlite:///:memory:"
        return _sqlite_engine(url, write=write, busy_timeout_ms=busy_timeout_ms, pool_size=pool_size,
                              create=create or not file)
    # A dead server refuses at once on loopback; a frozen one must not hold a worker for PyMySQL's
    # default 10 s connect timeout. No read timeout by default: a commit may legitimately wait for the
    # standby. Reads from a standby take one (read_timeout_s): a frozen standby must not hold them forever.
    connect_args: dict[str, float] = {"connect_timeout": connect_timeout_s}
    if read_timeout_s is not None:
        connect_args["read_timeout"] = read_timeout_s
    return sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
                            pool_recycle=1800, connect_args=connect_args)


def make_engines(writer_url: str, reader_url: str | None = None, *, busy_timeout_ms: int = 15000,
                 pool_size: int = 8, create: bool = True) -> Engines:
    writer = make_engine(writer_url, write=True, busy_timeout_ms=busy_timeout_ms, pool_size=pool_size,
                         create=create)
    if reader_url is None or (reader_url == writer_url and not writer_url.startswith("sqlite")):
        return Engines(writer=writer, reader=writer)
    # SQLite: a separate engine on the same file, so reads use deferred (shared) transactions.
    reader = make_engine(reader_url, write=False, busy_timeout_ms=busy_timeout_ms, pool_size=pool_size,
                         create=create)
    return Engines(writer=writer, reader=reader)
