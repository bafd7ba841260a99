"""Unit of work: one transaction on the writer or the reader, with the repositories bound to it.

Use cases open it, call repositories, and commit once; nothing else commits. Work that must
only happen once the transaction is durable (cache invalidation) registers with after_commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType

from sqlalchemy import Connection

from lakefront.data.engines import Engines
from lakefront.data.repos.carts import CartRepo
from lakefront.data.repos.catalog import CatalogRepo
from lakefront.data.repos.customers import CustomerRepo
from lakefront.data.repos.events import EventRepo
from lakefront.data.repos.orders import OrderRepo

log = logging.getLogger("lakefront.data")


class UnitOfWork:
    """`with uow:` opens the transaction and binds the repositories to it; `commit()` ends it (else rollback)."""

    catalog: CatalogRepo
    customers: CustomerRepo
    carts: CartRepo
    orders: OrderRepo
    events: EventRepo

    def __init__(self, engines: Engines, *, write: bool, fresh: bool = False) -> None:
        self._engines = engines
        self.write = write
        self.fresh = fresh
        self._conn: Connection | None = None
        self._after_commit: list[Callable[[], None]] = []
        self._committed = False

    def __enter__(self) -> UnitOfWork:
        conn = self._engines.connect(write=self.write, fresh=self.fresh)
        try:
            conn.begin()  # SQLite's BEGIN IMMEDIATE fails here when another process holds the write lock
        except BaseException:
            # __exit__ will not run: give the connection back now, not whenever the garbage collector
            # breaks the exception's reference cycle (until then it stays checked out, and an outage's
            # failed requests would empty the pool).
            conn.close()
            raise
        self._conn = conn
        self.catalog = CatalogRepo(conn)
        self.customers = CustomerRepo(conn)
        self.carts = CartRepo(conn)
        self.orders = OrderRepo(conn)
        self.events = EventRepo(conn)
        return self

    def after_commit(self, callback: Callable[[], None]) -> None:
        self._after_commit.append(callback)

    def commit(self) -> None:
        assert self._conn is not None, "unit of work used outside `with`"
        self._conn.commit()
        self._committed = True
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # the write is durable; a failed follow-up must not fail the request
                log.exception("after-commit callback failed")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self._conn is not None
        try:
            if self._conn.in_transaction():
                self._conn.rollback()
        finally:
            self._conn.close()
            self._conn = None


class UnitOfWorkFactory:
    """Hands out units of work: `uow(write=True)` for the primary, `uow()` for reads that may go to a
    standby, `uow(fresh=True)` for reads that must see the latest commits (read-your-writes)."""

    def __init__(self, engines: Engines, *, fresh_window_s: float = 0.0) -> None:
        self.engines = engines
        self.fresh_window_s = fresh_window_s
        """How long after a write reads that fill shared caches should go to the primary (0: reads
        never lag, nothing to do)."""

    @property
    def reads_may_lag(self) -> bool:
        return self.engines.routes_reads

    def __call__(self, *, write: bool = False, fresh: bool = False) -> UnitOfWork:
        return UnitOfWork(self.engines, write=write, fresh=fresh)
