"""Writer and reader engines: the primary and the read endpoint of the database tier.

SQLite (embedded profile) runs in WAL mode so readers never block the writer. Write
transactions start with BEGIN IMMEDIATE: they take the write lock up front, so two writers
queue on busy_timeout instead of deadlocking when both try to upgrade a read lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Engines:
    writer: Engine
    reader: Engine
    queries: QueryCounter = field(default_factory=QueryCounter)

    def __post_init__(self) -> None:
        self.queries.attach(self.writer, "writer")
        if self.reader is not self.writer:
            self.queries.attach(self.reader, "reader")

    def dispose(self) -> None:
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()


def _sqlite_engine(url: str, *, write: bool, busy_timeout_ms: int, pool_size: int) -> Engine:
    engine = sa.create_engine(
        url,
        poolclass=QueuePool,
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
    )

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


def make_engine(url: str, *, write: bool, busy_timeout_ms: int = 15000, pool_size: int = 8) -> Engine:
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///"):
            from pathlib import Path

            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return _sqlite_engine(url, write=write, busy_timeout_ms=busy_timeout_ms, pool_size=pool_size)
    return sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
                            pool_recycle=1800)


def make_engines(writer_url: str, reader_url: str | None = None, *, busy_timeout_ms: int = 15000,
                 pool_size: int = 8) -> Engines:
    writer = make_engine(writer_url, write=True, busy_timeout_ms=busy_timeout_ms, pool_size=pool_size)
    if reader_url is None or (reader_url == writer_url and not writer_url.startswith("sqlite")):
        return Engines(writer=writer, reader=writer)
    # SQLite: a separate engine on the same file, so reads use deferred (shared) transactions.
    reader = make_engine(reader_url, write=False, busy_timeout_ms=busy_timeout_ms, pool_size=pool_size)
    return Engines(writer=writer, reader=reader)
