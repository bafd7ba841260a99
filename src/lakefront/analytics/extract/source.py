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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import sqlalchemy as sa

from lakefront.analytics.errors import ExtractError
from lakefront.analytics.extract.tables import EXCLUDED_COLUMNS
from lakefront.data import tables as source_tables
from lakefront.data.endpoints import reader_url, standby_url, writer_url
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


@dataclass(frozen=True)
class Source:
    """Where a run reads: the URL, the time the source is known complete up to, and which endpoint it is."""

    url: str
    as_of: datetime
    endpoint: str
    """standby, primary (the writer, read because the standby could not serve), or reader (the settings' read
    endpoint: the primary unless db.reader_url names another)."""

    @property
    def address(self) -> str:
        """host:port of a server, or the SQLite file (never the password)."""
        url = sa.engine.make_url(self.url)
        if url.get_backend_name() == "sqlite":
            return url.database or ":memory:"
        return f"{url.host or '127.0.0.1'}:{url.port or 3306}"

    @property
    def label(self) -> str:
        """What a table's commit records as the endpoint it read, e.g. "standby 127.0.0.1:3308"."""
        return f"{self.endpoint} {self.address}"


def choose_source(settings: Settings, started: datetime) -> Source:
    """Where to read, and the time the source is known complete up to (the cutoff is that minus the
    safety lag). The standby, when `up` runs one, it answers within extract.standby_timeout_s and its lag is
    under STANDBY_MAX_LAG_S, so the extract adds no load to the primary (the seed's diagram: SQL extraction from
    the standby); complete up to the heartbeat it has applied, since a lagging standby lacks rows the primary
    stamped before now. Otherwise the primary (extract.primary_fallback, logged in one line; off: ExtractError),
    complete up to now. Without a standby: the reader endpoint of the settings (the primary by default)."""
    standby = standby_url(settings)
    if standby is None:
        return Source(reader_url(settings), started, "reader")
    timeout = settings.extract.standby_timeout_s
    try:
        beat = _heartbeat(standby, settings.db.busy_timeout_ms, timeout)
    except sa.exc.SQLAlchemyError as exc:
        problem = f"unreachable within {timeout:g} s ({error_line(exc)})"
    else:
        if beat is not None and (started - beat).total_seconds() <= STANDBY_MAX_LAG_S:
            source = Source(standby, min(started, beat), "standby")
            log.info("extract: reading the %s, complete up to its heartbeat %s", source.label, iso(beat))
            return source
        problem = "lag unknown (no heartbeat)" if beat is None else f"{(started - beat).total_seconds():.1f} s behind"
    return primary_instead(settings, Source(standby, started, "standby"), problem, started)


def primary_instead(settings: Settings, standby: Source, problem: str, as_of: datetime) -> Source:
    """The primary, to read instead of a standby that cannot serve (`problem`): one warning line. ExtractError
    (one line, nothing read) when extract.primary_fallback is off."""
    if not settings.extract.primary_fallback:
        raise ExtractError(f"the {standby.label} is {problem} and extract.primary_fallback is off: "
                           "not reading the primary")
    primary = Source(writer_url(settings), as_of, "primary")
    log.warning("extract: the %s is %s; reading the %s instead", standby.label, problem, primary.label)
    return primary


def standby_lost(exc: BaseException) -> bool:
    """True for an error that says the database connection failed or timed out (SQLAlchemy's, or ConnectorX's
    RuntimeError), as opposed to one in the query or in the lake."""
    return isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError | RuntimeError)


def error_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _heartbeat(url: str, busy_timeout_ms: int, timeout_s: float) -> datetime | None:
    """The standby's applied heartbeat (None: it has none, or its table is missing); SQLAlchemyError when it
    cannot be reached or does not answer within `timeout_s` (connect and read)."""
    engine = make_engine(url, write=False, busy_timeout_ms=busy_timeout_ms, pool_size=1,
                         read_timeout_s=timeout_s, connect_timeout_s=timeout_s)
    try:
        with engine.connect() as conn:
            try:
                beat = conn.execute(sa.select(heartbeat.c.beat_at).where(heartbeat.c.id == 1)).scalar()
            except sa.exc.ProgrammingError:  # no heartbeat table: not migrated, or not a monitored pair
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
