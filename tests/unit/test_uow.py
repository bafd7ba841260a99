"""Units of work on a real SQLite file whose write lock another connection holds (the embedded profile's outage)."""

from __future__ import annotations

import gc
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from lakefront.data.engines import make_engines
from lakefront.data.uow import UnitOfWork


def test_a_unit_of_work_that_cannot_begin_gives_its_connection_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    engines = make_engines(url, url, busy_timeout_ms=50, pool_size=1)  # one connection, one overflow
    with engines.writer.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (a INTEGER)")
    holder = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    gc.disable()  # returned by the unit of work itself, not by the garbage collector breaking a cycle
    try:
        for _ in range(3):  # more failures than the pool has connections
            with pytest.raises(sa.exc.OperationalError, match="database is locked"), \
                    UnitOfWork(engines, write=True):
                pass
            assert engines.writer.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        gc.enable()
        holder.execute("ROLLBACK")
        holder.close()
    with UnitOfWork(engines, write=True) as uow:  # the lock gone, the pool serves at once
        uow.commit()
    engines.dispose()
