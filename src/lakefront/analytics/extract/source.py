"""Where the extract reads, and how: the standby or the reader endpoint, as Arrow batches of the lake's types.

Reading: ConnectorX streams the query's result as Arrow record batches (``settings.extract.batch_rows`` rows
each), so no row ever becomes a Python object; types are then cast to the lake's schema in one vectorised step.
A database URL ConnectorX does not speak, or an environment without the connectorx package (it is a base
dependency, but a hand-made install can lack it), falls back to SQLAlchemy's streaming cursor, logged once per
process. Either way memory is bounded by the batch, not by the table.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import sqlalchemy as sa

from lakefront.analytics.errors import ExtractError
from lakefront.analytics.extract.tables import EXCLUDED_COLUMNS
from lakefront.data import tables as source_tables
from lakefront.data.endpoints import reader_url, standby_url
from lakefront.data.engines import make_engine
from lakefront.data.tables import heartbeat
from lakefront.data.types import UtcDateTime
from lakefront.settings import Settings

STANDBY_MAX_LAG_S = 60.0  # a standby further behind than this is skipped: the extract reads the primary
TIMESTAMP = pa.timestamp("us", tz="UTC")
_ISO = "%Y-%m-%dT%H:%M:%S.%fZ"
log = logging.getLogger("lakefront.analytics")


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime(_ISO)


def parse_iso(value: str) -> datetime:
    return datetime.strptime(value, _ISO).replace(tzinfo=UTC)


def choose_source(settings: Settings, started: datetime) -> tuple[str, datetime]:
    """Where to read, and the time the source is known complete up to (the cutoff is that minus the
    safety lag). The standby, when `up` runs one and its lag is under STANDBY_MAX_LAG_S, so the extract
    adds no load to the primary (the seed's diagram: SQL extraction from the standby); complete up to
    the heartbeat it has applied, since a lagging standby lacks rows the primary stamped before now.
    Otherwise the reader endpoint of the settings (the primary by default), complete up to now."""
    standby = standby_url(settings)
    if standby is None:
        return reader_url(settings), started
    beat = _heartbeat(standby, settings.db.busy_timeout_ms)
    if beat is not None and (started - beat).total_seconds() <= STANDBY_MAX_LAG_S:
        log.info("extract: reading the standby, complete up to its heartbeat %s", iso(beat))
        return standby, min(started, beat)
    log.warning("extract: standby lag %s; reading the primary instead",
                "unknown" if beat is None else f"{(started - beat).total_seconds():.1f}s")
    return reader_url(settings), started


def _heartbeat(url: str, busy_timeout_ms: int) -> datetime | None:
    engine = make_engine(url, write=False, busy_timeout_ms=busy_timeout_ms, pool_size=1)
    try:
        with engine.connect() as conn:
            beat = conn.execute(sa.select(heartbeat.c.beat_at).where(heartbeat.c.id == 1)).scalar()
    except sa.exc.SQLAlchemyError:
        return None
    finally:
        engine.dispose()
    return beat if isinstance(beat, datetime) else None


def arrow_type(column_type: sa.types.TypeEngine[Any]) -> pa.DataType:
    if isinstance(column_type, UtcDateTime | sa.DateTime):
        return TIMESTAMP
    if isinstance(column_type, sa.Boolean):
        return pa.bool_()
    if isinstance(column_type, sa.Integer):
        return pa.int64()
    if isinstance(column_type, sa.Float | sa.Numeric):
        return pa.float64()
    return pa.string()


def source_columns(conn: sa.Connection, table: str) -> list[sa.ColumnClause[Any]]:
    """The table's columns as the database has them now (so added columns come along), secrets left out.

    Known columns keep the schema's types (UtcDateTime gives aware UTC datetimes on every engine).
    """
    known = source_tables.metadata.tables[table].c
    excluded = EXCLUDED_COLUMNS.get(table, frozenset())
    inspector = sa.inspect(conn)
    if not inspector.has_table(table):
        raise ExtractError(f"table {table!r} does not exist in the database; run `lakefront db migrate` first")
    columns = []
    for info in inspector.get_columns(table):
        name = info["name"]
        if name in excluded:
            continue
        column_type = known[name].type if name in known else info["type"]
        columns.append(sa.column(name, column_type))
    return columns


def _connectorx_url(url: sa.engine.URL) -> str | None:
    """The same database as a ConnectorX connection string, or None if ConnectorX cannot read it."""
    if url.get_backend_name() == "sqlite" and url.database:
        return f"sqlite://{Path(url.database).resolve()}"
    if url.get_backend_name() in ("mysql", "mariadb"):
        user = quote(url.username or "", safe="")
        password = f":{quote(url.password, safe='')}" if url.password else ""
        return f"mysql://{user}{password}@{url.host or '127.0.0.1'}:{url.port or 3306}/{url.database}"
    return None


@functools.cache
def _connectorx() -> Any | None:
    """The connectorx module, or None (logged once per process) when it is not installed."""
    try:
        return importlib.import_module("connectorx")
    except ImportError:
        log.warning("extract: connectorx is not installed; reading through SQLAlchemy instead "
                    "(set extract.reader = \"sqlalchemy\" to silence this)")
        return None


def batches(conn: sa.Connection, settings: Settings, query: sa.Select[Any],
            schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The query's rows as record batches of the lake's schema, at most batch_rows at a time."""
    size = settings.extract.batch_rows
    source = _connectorx_url(conn.engine.url) if settings.extract.reader == "connectorx" else None
    connectorx = _connectorx() if source is not None else None
    if source is not None and connectorx is not None:
        sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        reader = connectorx.read_sql(source, sql, return_type="arrow_stream", batch_size=size)
        for batch in reader:
            # ConnectorX gives naive timestamps (the store writes UTC), TINYINT booleans, INT32 counts.
            yield batch.cast(schema)
        return
    result = conn.execution_options(stream_results=True, yield_per=size).execute(query)
    try:
        for chunk in result.partitions():
            values = list(zip(*chunk, strict=True))
            yield pa.RecordBatch.from_arrays(
                [pa.array(col, type=f.type) for col, f in zip(values, schema, strict=True)], schema=schema)
    finally:
        result.close()
