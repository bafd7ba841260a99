"""Extract the store's tables from the database's read endpoint into the lake.

Incremental by default, with a compound watermark: each table's last committed manifest records
the (updated_at, id) of the last row it took, and the next run reads the rows after it in that
order, ``updated_at > ts OR (updated_at = ts AND id > id)``, over the (updated_at, id) index.
The id breaks ties, so rows sharing a timestamp across two runs are neither lost nor repeated.

The safety lag: a run takes only rows with ``updated_at <= run start - settings.extract.safety_lag_s``.
The application stamps updated_at when it writes the row, not when the transaction commits. A
transaction still open while the extract reads has rows the extract cannot see; were the extract
to take everything up to "now", its watermark would pass their timestamps, and once they commit
they would sit behind the watermark forever. Leaving the youngest rows for the next run covers every
transaction shorter than the lag.

Deletes: the store never hard-deletes rows of extracted tables. A product is hidden with
``is_active = false`` and an order cancelled with ``status = 'cancelled'``; both are updates, so
the lake carries them as new versions of the row (the latest version per id wins). Anything
else (a row removed by hand in the database) is reconciled by ``lakefront extract --full``, which
starts a new generation from a full snapshot.

Secrets never reach the lake: customers.password_hash is left out (EXCLUDED_COLUMNS), and
auth_tokens and cart_items are not extracted at all.

Reading: ConnectorX streams the query's result as Arrow record batches (``settings.extract.batch_rows``
rows each), so no row ever becomes a Python object; types are then cast to the lake's schema in one
vectorised step. A database URL ConnectorX does not speak falls back to SQLAlchemy's streaming cursor.
Either way memory is bounded by the batch, not by the table.

Layout: ``raw/<table>/dt=<UTC date of the run>/<run_id>-part-NNNNN.<ext>``: hive-style partitions by
extraction date, as a raw zone is partitioned (a run's files sit together; a run of a big table
rolls to a new file every ``settings.extract.file_rows`` rows). Partitioning by each row's own date instead made a
full snapshot of a year of history into 365 small files, with one upload each.

Atomicity: data files are written to a local temp file and stored with one put each; then one
manifest per table is committed (lake.commit_manifest). A run killed before the manifest leaves
orphan files that readers ignore, and the next run starts again from the last committed watermark.

Test hook: with the environment variable LAKEFRONT_EXTRACT_PAUSE_BEFORE_COMMIT=<seconds> the
extractor, having stored a table's data files, prints a line to stderr and sleeps that long before
committing its manifest, so a test can kill it at exactly that point.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from lakefront.analytics import lake
from lakefront.analytics.formats import CONTENT_TYPES, TIMESTAMP, check_format, open_writer, schema_to_json
from lakefront.analytics.lake import Watermark
from lakefront.data import tables as source_tables
from lakefront.data.endpoints import reader_url, standby_url
from lakefront.data.engines import make_engine
from lakefront.data.objects import ObjectStore, make_object_store
from lakefront.data.tables import heartbeat
from lakefront.data.types import UtcDateTime, utcnow
from lakefront.settings import EXTRACT_TABLES, Settings

PAUSE_ENV = "LAKEFRONT_EXTRACT_PAUSE_BEFORE_COMMIT"
EXCLUDED_COLUMNS: dict[str, frozenset[str]] = {"customers": frozenset({"password_hash"})}
NOT_EXTRACTED = {"auth_tokens": "it holds sign-in secrets", "cart_items": "carts are transient state"}
UPLOADS_IN_FLIGHT = 8
STANDBY_MAX_LAG_S = 60.0  # a standby further behind than this is skipped: the extract reads the primary
log = logging.getLogger("lakefront.analytics")
_ISO = "%Y-%m-%dT%H:%M:%S.%fZ"


class ExtractError(ValueError):
    """A request the extractor refuses (unknown table or format); the message is one line."""


@dataclass(frozen=True)
class TableResult:
    table: str
    rows: int
    bytes: int
    seconds: float
    files: list[str]
    watermark_after: Watermark | None
    mode: str
    run_id: str
    committed: bool

    def line(self) -> str:
        state = "" if self.committed else " (nothing new, no manifest)"
        return (f"{self.table}: {self.rows:,} rows, {self.bytes:,} bytes, {len(self.files)} files, "
                f"{self.seconds:.2f} s, {self.mode}{state}")


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime(_ISO)


def parse_iso(value: str) -> datetime:
    return datetime.strptime(value, _ISO).replace(tzinfo=UTC)


def check_tables(settings: Settings, tables: list[str] | None) -> list[str]:
    names = list(tables) if tables else list(settings.extract.tables)
    for name in names:
        if name in NOT_EXTRACTED:
            raise ExtractError(f"table {name!r} is never extracted: {NOT_EXTRACTED[name]}")
        if name not in EXTRACT_TABLES:
            raise ExtractError(f"unknown table {name!r}; extractable tables: {', '.join(EXTRACT_TABLES)}")
    return list(dict.fromkeys(names))


def _arrow_type(column_type: sa.types.TypeEngine[Any]) -> pa.DataType:
    if isinstance(column_type, UtcDateTime | sa.DateTime):
        return TIMESTAMP
    if isinstance(column_type, sa.Boolean):
        return pa.bool_()
    if isinstance(column_type, sa.Integer):
        return pa.int64()
    if isinstance(column_type, sa.Float | sa.Numeric):
        return pa.float64()
    return pa.string()


def _source_columns(conn: sa.Connection, table: str) -> list[sa.ColumnClause[Any]]:
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


@dataclass
class _Part:
    key: str
    dt: str
    path: Path
    writer: Any
    rows: int = 0
    min_updated_at: str = ""
    max_updated_at: str = ""


@dataclass
class _TableRun:
    """Writes one table's rows into date-partitioned files, each stored once complete."""

    store: ObjectStore
    settings: Settings
    table: str
    run_id: str
    fmt: str
    schema: pa.Schema
    tmp: Path
    pool: ThreadPoolExecutor
    files: list[dict[str, Any]] = field(default_factory=list)
    uploads: list[Future[None]] = field(default_factory=list)
    part: _Part | None = None
    parts_made: int = 0

    def add(self, batch: pa.RecordBatch, dt: str) -> None:
        if self.part is None or self.part.rows >= self.settings.extract.file_rows:
            self._finish_part()
            self._start_part(dt)
        assert self.part is not None
        self.part.writer.write(batch)
        low, high = pc.min_max(batch.column("updated_at")).values()
        if not self.part.rows:
            self.part.min_updated_at = iso(low.as_py())
        self.part.max_updated_at = iso(high.as_py())
        self.part.rows += batch.num_rows

    def _start_part(self, dt: str) -> None:
        self.parts_made += 1
        key = lake.data_key(self.settings.extract.prefix, self.table, dt, self.run_id, self.parts_made, self.fmt)
        path = self.tmp / f"{self.table}-{self.parts_made:05d}"
        self.part = _Part(key, dt, path, open_writer(self.fmt, path, self.schema))

    def _finish_part(self) -> None:
        if self.part is None:
            return
        part, self.part = self.part, None
        part.writer.close()
        entry = {"key": part.key, "rows": part.rows, "bytes": part.path.stat().st_size,
                 "min_updated_at": part.min_updated_at, "max_updated_at": part.max_updated_at}
        self.files.append(entry)
        # Daily partitions make many files; storing a few at once hides the object store's latency, and the
        # bound keeps finished-but-unsent files (on local disk, not in memory) to a handful.
        if len(self.uploads) >= UPLOADS_IN_FLIGHT:
            self.uploads.pop(0).result()
        self.uploads.append(self.pool.submit(self._upload, part))

    def _upload(self, part: _Part) -> None:
        try:
            self.store.put_file(part.key, part.path, CONTENT_TYPES[self.fmt])
        finally:
            part.path.unlink(missing_ok=True)

    def finish(self) -> None:
        self._finish_part()
        while self.uploads:
            self.uploads.pop(0).result()

    def abort(self) -> None:
        if self.part is not None:
            self.part.writer.close()
            self.part.path.unlink(missing_ok=True)
            self.part = None
        for upload in self.uploads:
            upload.cancel()
        wait(self.uploads)


def _connectorx_url(url: sa.engine.URL) -> str | None:
    """The same database as a ConnectorX connection string, or None if ConnectorX cannot read it."""
    if url.get_backend_name() == "sqlite" and url.database:
        return f"sqlite://{Path(url.database).resolve()}"
    if url.get_backend_name() in ("mysql", "mariadb"):
        user = quote(url.username or "", safe="")
        password = f":{quote(url.password, safe='')}" if url.password else ""
        return f"mysql://{user}{password}@{url.host or '127.0.0.1'}:{url.port or 3306}/{url.database}"
    return None


def _batches(conn: sa.Connection, settings: Settings, query: sa.Select[Any],
             schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The query's rows as record batches of the lake's schema, at most batch_rows at a time."""
    size = settings.extract.batch_rows
    source = _connectorx_url(conn.engine.url) if settings.extract.reader == "connectorx" else None
    if source is not None:
        import connectorx

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


def _pause_before_commit(table: str) -> None:
    # Test-only: read here rather than in Settings so no configuration file can turn it on by accident.
    seconds = float(os.environ.get(PAUSE_ENV, "0") or 0)
    if seconds > 0:
        print(f"extract: paused before committing {table} for {seconds:g} s", file=sys.stderr, flush=True)
        time.sleep(seconds)


class _Progress:
    def __init__(self, enabled: bool) -> None:
        self._progress: Any = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), console=Console(stderr=True))

    @contextmanager
    def running(self) -> Iterator[None]:
        if self._progress is None:
            yield
            return
        with self._progress:
            yield

    @property
    def enabled(self) -> bool:
        return self._progress is not None

    def task(self, name: str, total: int) -> Any:
        return None if self._progress is None else self._progress.add_task(name, total=total)

    def advance(self, task: Any, rows: int) -> None:
        if self._progress is not None:
            self._progress.advance(task, rows)


def _extract_table(conn: sa.Connection, store: ObjectStore, settings: Settings, table: str, *, fmt: str,
                   full: bool, run_id: str, started: datetime, as_of: datetime, tmp: Path, progress: _Progress,
                   pool: ThreadPoolExecutor) -> TableResult:
    began = time.perf_counter()
    prefix = settings.extract.prefix
    cutoff = as_of - timedelta(seconds=settings.extract.safety_lag_s)
    last = lake.last_manifest(store, prefix, table)
    mode = "full" if full or last is None else "incremental"
    previous = 0 if last is None else int(last["generation"])
    generation = previous + 1 if mode == "full" else previous
    before = None if mode == "full" or last is None else Watermark.from_json(last["watermark_after"])

    columns = _source_columns(conn, table)
    schema = pa.schema([pa.field(c.name, _arrow_type(c.type)) for c in columns])
    source = sa.table(table, *columns)
    updated_at, row_id = source.c.updated_at, source.c.id
    condition = updated_at <= cutoff
    if before is not None:
        mark = parse_iso(before.updated_at)
        condition = sa.and_(condition, sa.or_(updated_at > mark, sa.and_(updated_at == mark, row_id > before.id)))
    task = None
    if progress.enabled:
        total = conn.execute(sa.select(sa.func.count()).select_from(source).where(condition)).scalar_one()
        task = progress.task(table, int(total))
    query = sa.select(*columns).where(condition).order_by(updated_at, row_id)
    writer = _TableRun(store, settings, table, run_id, fmt, schema, tmp, pool)
    dt = started.astimezone(UTC).date().isoformat()
    rows = 0
    after = before
    try:
        for batch in _batches(conn, settings, query, schema):
            if not batch.num_rows:
                continue
            writer.add(batch, dt)
            rows += batch.num_rows
            last_row = batch.slice(batch.num_rows - 1, 1)
            after = Watermark(iso(last_row.column("updated_at")[0].as_py()), int(last_row.column("id")[0].as_py()))
            progress.advance(task, batch.num_rows)
        writer.finish()
    except BaseException:
        writer.abort()
        raise
    total_bytes = sum(int(f["bytes"]) for f in writer.files)
    committed = mode == "full" or rows > 0
    if committed:
        _pause_before_commit(table)
        base = 0 if last is None else int(last["sequence"])
        try:
            lake.commit_manifest(store, prefix, {
                "version": lake.MANIFEST_VERSION, "table": table, "run_id": run_id, "generation": generation,
                "mode": mode, "format": fmt, "files": writer.files, "rows": rows, "bytes": total_bytes,
                "schema": schema_to_json(schema), "watermark_before": before.to_json() if before else None,
                "watermark_after": after.to_json() if after else None, "cutoff": iso(cutoff),
                "started_at": iso(started), "committed_at": iso(utcnow()),
            }, after=base)
        except lake.CommitConflict as exc:
            raise ExtractError(f"{exc}; nothing committed for {table}, run it again") from None
    return TableResult(table, rows, total_bytes, time.perf_counter() - began, [f["key"] for f in writer.files],
                       after, mode, run_id, committed)


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


def run_extract(settings: Settings, *, tables: list[str] | None = None, fmt: str | None = None,
                full: bool = False, progress: bool = False) -> list[TableResult]:
    """Copy the tables (default: settings.extract.tables) from the read endpoint into the lake.

    Each table commits on its own once its files are stored; a failure leaves earlier tables committed
    and the failing one untouched (its next run starts from its last committed watermark).
    """
    try:
        chosen = check_format(fmt or settings.extract.format)
    except ValueError as exc:
        raise ExtractError(str(exc)) from None
    names = check_tables(settings, tables)
    started = utcnow()
    run_id = f"{started:%Y%m%dT%H%M%S}Z-{secrets.token_hex(4)}"
    source_url, as_of = choose_source(settings, started)
    engine = make_engine(source_url, write=False, busy_timeout_ms=settings.db.busy_timeout_ms, pool_size=1)
    store = make_object_store(settings, "lake")
    shown = _Progress(progress)
    results = []
    try:
        with ExitStack() as stack:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lakefront-extract-")))
            stack.enter_context(shown.running())
            pool = stack.enter_context(ThreadPoolExecutor(max_workers=UPLOADS_IN_FLIGHT))
            for name in names:
                # One read transaction per table: a consistent snapshot on MariaDB and on SQLite (WAL).
                with engine.connect() as conn, conn.begin():
                    results.append(_extract_table(conn, store, settings, name, fmt=chosen, full=full,
                                                  run_id=run_id, started=started, as_of=as_of, tmp=tmp,
                                                  progress=shown,
                                                  pool=pool))
    finally:
        engine.dispose()
        close = getattr(store, "close", None)
        if close is not None:
            close()
    return results


def last_runs(settings: Settings) -> dict[str, dict[str, Any]]:
    """Per extracted table, a summary of its last committed run (for `lakefront status`); absent if never run."""
    store = make_object_store(settings, "lake")
    try:
        found = {}
        for table in settings.extract.tables:
            manifest = lake.last_manifest(store, settings.extract.prefix, table)
            if manifest is not None:
                found[table] = {key: manifest[key] for key in (
                    "run_id", "sequence", "generation", "mode", "format", "rows", "bytes", "watermark_after",
                    "started_at", "committed_at")} | {"files": len(manifest["files"])}
        return found
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()
