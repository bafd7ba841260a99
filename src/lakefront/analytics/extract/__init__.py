"""Extract the store's tables from the database's read endpoint into the lake's raw_<table> Iceberg tables.

Incremental by default, with a compound watermark: each table's current snapshot records the (updated_at, id) of
the last row its commit took, and the next run reads the rows after it in that order,
``updated_at > ts OR (updated_at = ts AND id > id)``, over the (updated_at, id) index. The id breaks ties, so
rows sharing a timestamp across two runs are neither lost nor repeated. The table is append-only: every row
version the extract took, once (the clean models take the latest version per id).

The safety lag: a run takes only rows with ``updated_at <= run start - settings.extract.safety_lag_s``. The
application stamps updated_at when it writes the row, not when the transaction commits. A transaction still open
while the extract reads has rows the extract cannot see; were the extract to take everything up to "now", its
watermark would pass their timestamps, and once they commit they would sit behind the watermark forever. Leaving
the youngest rows for the next run covers every transaction shorter than the lag.

Deletes: the store never hard-deletes rows of extracted tables. A product is hidden with ``is_active = false`` and
an order cancelled with ``status = 'cancelled'``; both are updates, so the lake carries them as new versions of the
row. Anything else (a row removed by hand in the database) is reconciled by ``lakefront extract --full``, whose
snapshot replaces the table's rows with a full copy.

Secrets never reach the lake: customers.password_hash is left out, and auth_tokens and cart_items are not
extracted at all (tables.py, which this stage owns).

Atomicity: a table's run stores its Parquet files (files.py), then commits them as one snapshot (lake.commit_files),
with the watermark in the snapshot's summary. The commit fails if another run committed the table since this one
loaded it, so two extractors cannot both add the same rows. A run killed before its commit leaves files that no
snapshot names: readers never see them, the next run starts again from the last committed watermark, and
`lakefront lake maintain` deletes them.

Test hook: with the environment variable LAKEFRONT_EXTRACT_PAUSE_BEFORE_COMMIT=<seconds> the extractor, having
stored a table's data files, prints a line to stderr and sleeps that long before committing, so a test can kill it
at exactly that point.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from lakefront.analytics.errors import ExtractError
from lakefront.analytics.extract.files import UPLOADS_IN_FLIGHT, TableFiles
from lakefront.analytics.extract.source import (
    Source,
    arrow_type,
    batches,
    choose_source,
    error_line,
    iso,
    parse_iso,
    primary_instead,
    source_columns,
    standby_lost,
)
from lakefront.analytics.extract.tables import EXTRACT_TABLES, check_tables
from lakefront.analytics.lake import Lake, raw_name
from lakefront.analytics.progress import Progress
from lakefront.data.engines import make_engine
from lakefront.data.types import utcnow
from lakefront.settings import Settings

PAUSE_ENV = "LAKEFRONT_EXTRACT_PAUSE_BEFORE_COMMIT"

__all__ = ["EXTRACT_TABLES", "PAUSE_ENV", "ExtractError", "TableResult", "Watermark", "parse_iso", "run_extract"]


@dataclass(frozen=True)
class Watermark:
    """The (updated_at, id) of the last row extracted; the next run reads rows strictly after it."""

    updated_at: str  # ISO-8601 UTC with microseconds
    id: int

    def to_json(self) -> dict[str, Any]:
        return {"updated_at": self.updated_at, "id": self.id}

    @classmethod
    def from_text(cls, value: str | None) -> Watermark | None:
        import json

        if not value or value == "null":
            return None
        data = json.loads(value)
        return cls(str(data["updated_at"]), int(data["id"]))


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
    snapshot_id: int | None = None
    source: str = ""
    """The endpoint read, as the commit records it: "standby 127.0.0.1:3308", "primary ...", "reader ..."."""

    def line(self) -> str:
        state = "" if self.committed else " (nothing new, nothing committed)"
        read = f" from the {self.source}" if self.source else ""
        return (f"{self.table}: {self.rows:,} rows{read}, {self.bytes:,} bytes, {len(self.files)} files, "
                f"{self.seconds:.2f} s, {self.mode}{state}")


def _pause_before_commit(table: str) -> None:
    # Test-only: read here rather than in Settings so no configuration file can turn it on by accident.
    seconds = float(os.environ.get(PAUSE_ENV, "0") or 0)
    if seconds > 0:
        print(f"extract: paused before committing {table} for {seconds:g} s", file=sys.stderr, flush=True)
        time.sleep(seconds)


@dataclass(frozen=True)
class _Run:
    lake: Lake
    settings: Settings
    run_id: str
    started: datetime
    as_of: datetime
    tmp: Path
    progress: Progress
    pool: ThreadPoolExecutor
    source: Source


def _extract_table(conn: sa.Connection, run: _Run, table: str, *, full: bool) -> TableResult:
    began = time.perf_counter()
    lake, name = run.lake, raw_name(table)
    cutoff = run.as_of - timedelta(seconds=run.settings.extract.safety_lag_s)
    columns = source_columns(conn, table)
    schema = pa.schema([pa.field(c.name, arrow_type(c.type)) for c in columns])
    # Loaded once, before reading: the commit is refused if anyone committed the table after this point.
    base = lake.load(name)
    last = None if base is None else lake.commit_of(base)
    mode = "full" if full or last is None else "incremental"
    before = None if mode == "full" or last is None else Watermark.from_text(last.properties.get("watermark-after"))
    if base is None:
        base = lake.create(name, schema)

    source = sa.table(table, *columns)
    updated_at, row_id = source.c.updated_at, source.c.id
    condition = updated_at <= cutoff
    if before is not None:
        mark = parse_iso(before.updated_at)
        condition = sa.and_(condition, sa.or_(updated_at > mark, sa.and_(updated_at == mark, row_id > before.id)))
    task = None
    if run.progress.enabled:
        total = conn.execute(sa.select(sa.func.count()).select_from(source).where(condition)).scalar_one()
        task = run.progress.task(table, int(total))
    query = sa.select(*columns).where(condition).order_by(updated_at, row_id)
    dt = run.started.astimezone(UTC).date().isoformat()
    files = TableFiles(lake.bucket, lambda part: lake.data_key(name, dt, run.run_id, part), schema,
                       run.settings.extract.file_rows, run.tmp, run.pool)
    rows, after = 0, before
    try:
        for batch in batches(conn, run.settings, query, schema):
            if not batch.num_rows:
                continue
            files.add(batch)
            rows += batch.num_rows
            last_row = batch.slice(batch.num_rows - 1, 1)
            after = Watermark(iso(last_row.column("updated_at")[0].as_py()), int(last_row.column("id")[0].as_py()))
            run.progress.advance(task, batch.num_rows)
        files.finish()
    except BaseException:
        files.abort()
        raise
    commit = None
    if mode == "full" or rows > 0:
        _pause_before_commit(table)
        commit = lake.commit_files(base, files.keys, schema, replace=mode == "full", properties={
            "mode": mode, "run-id": run.run_id, "rows": str(rows),
            "watermark-before": before.to_json() if before else None,
            "watermark-after": after.to_json() if after else None,
            "cutoff": iso(cutoff), "started-at": iso(run.started), "source": run.source.label})
    return TableResult(table, rows, files.bytes, time.perf_counter() - began, files.keys, after, mode, run.run_id,
                       commit is not None, commit.snapshot_id if commit else None, run.source.label)


def _engine(settings: Settings, source: Source) -> sa.Engine:
    timeout = settings.extract.standby_timeout_s if source.endpoint == "standby" else None
    return make_engine(source.url, write=False, busy_timeout_ms=settings.db.busy_timeout_ms, pool_size=1,
                       read_timeout_s=timeout, connect_timeout_s=timeout or 2)


def run_extract(settings: Settings, *, tables: list[str] | None = None, full: bool = False,
                progress: bool = False, lake: Lake | None = None) -> list[TableResult]:
    """Copy the tables (default: settings.extract.tables, else every extractable one) into the lake.

    Each table commits on its own once its files are stored; a failure leaves earlier tables committed and the
    failing one untouched (its next run starts from its last committed watermark). A standby lost in the middle
    of a table (its connection refused or timed out) is left for the primary from that table on
    (extract.primary_fallback; off: the run fails there): the table's stored files are dropped uncommitted and
    the table read again, with the same cutoff.
    """
    names = check_tables(tables or settings.extract.tables)
    started = utcnow()
    run_id = f"{started:%Y%m%dT%H%M%S}Z-{secrets.token_hex(4)}"
    source = choose_source(settings, started)
    shown = Progress(progress)
    results = []
    with ExitStack() as stack:
        engines = [_engine(settings, source)]

        @stack.callback
        def _dispose() -> None:
            for engine in engines:
                engine.dispose()

        if lake is None:
            lake = stack.enter_context(Lake(settings))
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lakefront-extract-")))
        stack.enter_context(shown.running())
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=UPLOADS_IN_FLIGHT))
        run = _Run(lake, settings, run_id, started, source.as_of, tmp, shown, pool, source)
        for name in names:
            try:
                result, ended = _extract_from(engines[-1], run, name, full=full)
            except Exception as exc:
                if not _standby_lost(run, exc):
                    raise
                # The table's files are dropped uncommitted; the primary reads it again. The cutoff stays the
                # standby's: everything the primary has up to it is complete.
                run = _to_primary(run, engines, f"lost while reading {name} ({error_line(exc)})")
                result, ended = _extract_from(engines[-1], run, name, full=full)
            results.append(result)
            if ended is not None:
                # The table is committed; only ending its read transaction failed.
                if not _standby_lost(run, ended):
                    raise ended
                run = _to_primary(run, engines, f"lost after reading {name} ({error_line(ended)})")
    return results


def _standby_lost(run: _Run, exc: Exception) -> bool:
    """The run reads the standby and `exc` says its connection failed: the primary takes over."""
    return run.source.endpoint == "standby" and standby_lost(exc)


def _to_primary(run: _Run, engines: list[sa.Engine], problem: str) -> _Run:
    primary = primary_instead(run.settings, run.source, problem, run.as_of)
    engines[-1].dispose()
    engines.append(_engine(run.settings, primary))
    return dataclasses.replace(run, source=primary)


def _extract_from(engine: sa.Engine, run: _Run, table: str, *,
                  full: bool) -> tuple[TableResult, Exception | None]:
    """The table's result, and the error that ended its read transaction after it committed (else None)."""
    result = None
    try:
        # One read transaction per table: a consistent snapshot on MariaDB and on SQLite (WAL).
        with engine.connect() as conn, conn.begin():
            result = _extract_table(conn, run, table, full=full)
    except Exception as exc:
        if result is None:
            raise
        return result, exc
    return result, None
