"""Engines and units of work on real SQLite files that are unavailable: locked by another connection, or gone."""

from __future__ import annotations

import gc
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from lakefront.api.problems import _database_unavailable
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


def test_a_serving_engine_never_creates_a_missing_database_file(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    url = f"sqlite:///{path}"
    make_engines(url).writer.connect().close()  # as `db migrate` does: the file is made
    engines = make_engines(url, url, pool_size=1, create=False)
    held = engines.writer.connect()  # opened while the file is there
    path.rename(tmp_path / "moved.sqlite3")
    assert held.exec_driver_sql("SELECT 1").scalar() == 1  # an open connection keeps the moved file
    with pytest.raises(sa.exc.OperationalError, match="unable to open database file") as raised, \
            UnitOfWork(engines, write=True):  # needs a new connection: the pool's one is held
        pass
    held.close()
    assert _database_unavailable(raised.value)  # a 503, not a 500
    assert not path.exists()  # no empty database in its place
    engines.dispose()
