"""Engines that follow the failover monitor's published endpoints, and route reads by replication lag.

- Writes, and reads that must see the latest commits (`fresh`), go to the published writer. When it
  cannot be reached, or none is published (a switchover in progress), a new unit of work waits up
  to `failover_wait_s` for the monitor to publish one, polling every 50 ms, then raises
  DatabaseUnavailable (503 with Retry-After). A failover therefore costs in-flight transactions
  only; requests arriving during it wait and then succeed.
- Other reads go to a reader while its lag is known and within `max_lag_ms`, else to the writer.
  Lag = UTC now on the reader minus the heartbeat row's time (data/tables.py:heartbeat), which the
  monitor rewrites through the primary every probe; a stopped replica's lag grows, so reads leave
  it. It is measured at most every `lag_check_s`, by whichever request first finds it stale.
- A reader that cannot be reached (killed, or frozen: its connections carry a `reader_timeout_s`
  read timeout) sends that read to the writer, and its lag becomes unknown until the next check, so
  the reads after it go straight to the writer instead of each waiting on the dead standby.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lakefront.data.endpoints import EndpointsFile, Node, mysql_url, reader_url, writer_url
from lakefront.data.engines import DatabaseUnavailable, Engines, QueryCounter, make_engine, make_engines
from lakefront.settings import Settings

log = logging.getLogger("lakefront.data")

POLL_S = 0.05
_LAG_SQL = sa.text("SELECT TIMESTAMPDIFF(MICROSECOND, beat_at, UTC_TIMESTAMP(6)) FROM lf_heartbeat WHERE id = 1")


def _unreachable(exc: sa.exc.DBAPIError) -> bool:
    # Could not connect, or the server refused to run the statement as primary (read-only: fenced).
    text = str(exc.orig).lower()
    return any(m in text for m in ("2002", "2003", "2006", "2013", "can't connect", "connection refused",
                                   "gone away", "lost connection", "1290", "read-only", "read_only", "1927"))


class RoutedEngines(Engines):
    def __init__(self, endpoints: EndpointsFile, *, user: str, password: str, database: str, pool_size: int = 8,
                 max_lag_ms: int = 1000, failover_wait_s: float = 10.0, lag_check_s: float = 0.5,
                 reader_timeout_s: float = 5.0) -> None:
        self.endpoints = endpoints
        self._url = {"user": user, "password": password, "database": database}
        self.pool_size = pool_size
        self.max_lag_ms = max_lag_ms
        self.failover_wait_s = failover_wait_s
        self.lag_check_s = lag_check_s
        self.reader_timeout_s = reader_timeout_s
        self.queries = QueryCounter()
        self._lock = threading.Lock()
        self._generation = -1
        self._writer_node: Node | None = None
        self._reader_node: Node | None = None
        self._w: Engine | None = None
        self._r: Engine | None = None
        self._lag_ms: float | None = None
        self._lag_checked = 0.0
        self._lag_lock = threading.Lock()
        self.reads_routed = {"reader": 0, "writer": 0}
        self._last_warning = 0.0
        self._refresh()

    # Engines follow the document.

    def _engine(self, node: Node, role: str) -> Engine:
        engine = make_engine(mysql_url(node, **self._url), write=role == "writer", pool_size=self.pool_size,
                             read_timeout_s=self.reader_timeout_s if role == "reader" else None)
        self.queries.attach(engine, role)
        return engine

    def _refresh(self) -> None:
        current = self.endpoints.current()
        if current is None or current.generation == self._generation:
            return
        with self._lock:
            if current.generation == self._generation:
                return
            old: list[Engine] = []
            if current.writer != self._writer_node:
                if self._w is not None:
                    old.append(self._w)
                self._w = self._engine(current.writer, "writer") if current.writer else None
                self._writer_node = current.writer
            reader = current.readers[0] if current.readers else None
            if reader != self._reader_node:
                if self._r is not None:
                    old.append(self._r)
                self._r = self._engine(reader, "reader") if reader else None
                self._reader_node = reader
                self._lag_ms, self._lag_checked = None, 0.0
            log.info("database endpoints generation %d: writer=%s reader=%s", current.generation,
                     current.writer.node if current.writer else "none (switching)",
                     reader.node if reader else "the writer")
            self._generation = current.generation
        for engine in old:
            # Checked-in connections close now; checked-out ones close when their unit of work ends.
            engine.dispose()

    @property
    def writer(self) -> Engine:
        self._refresh()
        if self._w is None:
            raise DatabaseUnavailable("no primary is published (a switchover is in progress)")
        return self._w

    @property
    def reader(self) -> Engine:
        self._refresh()
        if self._r is not None and self.max_lag_ms > 0:
            lag = self.lag_ms()
            if lag is not None and lag <= self.max_lag_ms:
                self.reads_routed["reader"] += 1
                return self._r
        self.reads_routed["writer"] += 1
        return self.writer

    @property
    def dialect(self) -> str:
        return "mysql"  # every node is a MariaDB server `lakefront up` runs (mysql_url)

    @property
    def routes_reads(self) -> bool:
        return self._r is not None and self.max_lag_ms > 0

    # Lag.

    def lag_ms(self) -> float | None:
        """The reader's lag, measured at most every lag_check_s; None when unknown (no heartbeat, error)."""
        now = time.monotonic()
        if now - self._lag_checked < self.lag_check_s or not self._lag_lock.acquire(blocking=False):
            return self._lag_ms
        try:
            engine = self._r
            if engine is None:
                return None
            try:
                with engine.connect() as conn:
                    micros = conn.execute(_LAG_SQL).scalar()
                self._lag_ms = None if micros is None else max(0.0, float(micros) / 1000)
            except sa.exc.SQLAlchemyError as exc:
                log.warning("reader lag check failed: %s", str(exc).splitlines()[0][:160])
                self._lag_ms = None
            self._lag_checked = time.monotonic()
            return self._lag_ms
        finally:
            self._lag_lock.release()

    def _reader_lost(self) -> None:
        """The reader failed a read: route to the writer (and count it there) until the next lag check."""
        with self._lag_lock:
            self._lag_ms, self._lag_checked = None, time.monotonic()
        self.reads_routed["reader"] -= 1
        self.reads_routed["writer"] += 1

    # Connections.

    def connect(self, *, write: bool, fresh: bool = False) -> sa.Connection:
        if not (write or fresh):
            engine: Engine | None = None
            try:
                engine = self.reader
                return engine.connect()
            except DatabaseUnavailable:
                pass  # no writer published (a role change): wait for one below, as writes do
            except sa.exc.DBAPIError as exc:
                if not _unreachable(exc):
                    raise
                if engine is not None and engine is self._r:
                    self._reader_lost()
                if time.monotonic() - self._last_warning > 5:  # one line per burst, not one per read
                    self._last_warning = time.monotonic()
                    log.warning("%s unreachable; reading from the writer: %s",
                                "reader" if self._r is not None else "writer", str(exc.orig)[:120])
        deadline = time.monotonic() + self.failover_wait_s
        waited = False
        while True:
            try:
                conn = self.writer.connect()
                if waited:
                    log.info("writer %s reachable again", self._writer_node.node if self._writer_node else "?")
                return conn
            except (DatabaseUnavailable, sa.exc.DBAPIError) as exc:
                if isinstance(exc, sa.exc.DBAPIError) and not _unreachable(exc):
                    raise
                if time.monotonic() >= deadline:
                    if isinstance(exc, DatabaseUnavailable):
                        raise
                    raise DatabaseUnavailable(f"primary unreachable for {self.failover_wait_s:.0f}s") from exc
                waited = True
                time.sleep(POLL_S)

    def describe(self) -> dict[str, Any]:
        return {"generation": self._generation,
                "writer": self._writer_node.as_dict() if self._writer_node else None,
                "reader": self._reader_node.as_dict() if self._reader_node else None,
                "reader_lag_ms": self._lag_ms, "reads_routed": dict(self.reads_routed)}

    def dispose(self) -> None:
        for engine in (self._w, self._r):
            if engine is not None:
                engine.dispose()


def engines_for(settings: Settings) -> Engines:
    """A long-running process's engines: the settings' fixed endpoints, or (services profile with a standby)
    the ones the failover monitor publishes, followed without a restart."""
    endpoints_file = settings.db_endpoints_file
    db = settings.db
    if endpoints_file is None:
        # The serving tiers open the database `db migrate` made; they never create one (SQLite would).
        return make_engines(writer_url(settings), reader_url(settings), busy_timeout_ms=db.busy_timeout_ms,
                            pool_size=db.pool_size, create=False)
    return RoutedEngines(EndpointsFile(endpoints_file), user=db.user, password=db.password.get_secret_value(),
                         database=db.name, pool_size=db.pool_size, max_lag_ms=db.max_replica_lag_ms,
                         failover_wait_s=db.failover_wait_s)
