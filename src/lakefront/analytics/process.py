"""Processing (the EMR role): run the SQL models over the lake's committed extracts and store the marts.

A run reads only committed data: for each raw table the chosen models need, the files listed by the manifests
readers see (lake.committed_files: the latest full snapshot and the incremental runs after it); files of a run
still in flight are invisible to it. Each raw table becomes a view ``raw_<table>`` in the engine, the models run
in dependency order (analytics.models), and each mart's output is written back to the lake as one zstd Parquet
file plus its own manifest, the commit point (lake.py's layout). Clean and intermediate models live only in the
engine for the run.

Where the engine reads from: DuckDB reads the directory store's files in place, and S3 through httpfs. Spark cannot
read S3 here (no hadoop-aws jars), so the runner stages the committed S3 files into a local temp directory for it,
as it does for DuckDB if httpfs could not be set up. Extracts in CSV, JSON Lines or Avro are converted to local
Parquet first, so engines only ever read Parquet.

Idempotence: a mart's rows are sorted before they are stored and their digest goes in the manifest; when a run's
output equals the last committed output, nothing is written, so a re-run on unchanged data changes nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import secrets
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lakefront.analytics import lake
from lakefront.analytics.engines import Engine, EngineError, open_engine
from lakefront.analytics.formats import read_bytes, schema_from_json
from lakefront.analytics.models import Model, ModelError, execution_order, load_models, raw_tables
from lakefront.data.objects import DirectoryStore, ObjectStore, make_object_store
from lakefront.settings import Settings

log = logging.getLogger(__name__)

EMPTY_LAKE = "no data in the lake yet: run `lakefront extract`"


class ProcessError(ValueError):
    """A run the runner refuses (unknown model, nothing to read) or one that failed; the message is one line."""


@dataclass(frozen=True)
class ModelResult:
    name: str
    kind: str
    """clean, intermediate or mart: only marts are stored in the lake."""
    rows: int | None
    """Rows of a mart's output; None for models that are not stored (counting them would cost a scan)."""
    seconds: float
    engine: str
    committed: bool
    """For a mart: whether this run committed a new output (False: identical to the last one, or not a mart)."""
    manifest_key: str | None

    def line(self) -> str:
        if self.rows is None:
            return f"{self.name}: {self.seconds:.2f} s ({self.kind}, not stored)"
        state = "committed" if self.committed else "unchanged, nothing committed"
        return f"{self.name}: {self.rows:,} rows, {self.seconds:.2f} s ({state})"


@dataclass(frozen=True)
class _RawInput:
    table: str
    files: list[tuple[str, str, pa.Schema]]  # (key, format, the schema of the run that wrote it)
    schema: pa.Schema
    sequence: int


def _kind(model: Model) -> str:
    if model.is_mart:
        return "mart"
    return "clean" if model.name.startswith("clean_") else "intermediate"


def _raw_inputs(store: ObjectStore, prefix: str, tables: list[str]) -> list[_RawInput]:
    inputs, missing = [], []
    for table in tables:
        current = lake.current_manifests(store, prefix, table)
        if not current:
            missing.append(table)
            continue
        schemas = [schema_from_json(m["schema"]) for m in current]
        # Later runs may add columns: the view has every column any committed run has, in first-seen order.
        schema = pa.unify_schemas(schemas)
        files = [(entry["key"], m["format"], run_schema) for m, run_schema in zip(current, schemas, strict=True)
                 for entry in m["files"]]
        inputs.append(_RawInput(table, files, schema, int(current[-1]["sequence"])))
    if missing and len(missing) == len(tables):
        raise ProcessError(EMPTY_LAKE)
    if missing:
        names = ",".join(missing)
        raise ProcessError(f"the lake has no {', '.join(missing)} yet: run `lakefront extract --tables {names}`")
    return inputs


class _Sources:
    """Turns committed lake keys into paths or URLs the engine can read, staging files locally when it must."""

    def __init__(self, settings: Settings, store: ObjectStore, engine: Engine, tmp: Path) -> None:
        self._settings, self._store, self._engine, self._tmp = settings, store, engine, tmp
        self.staged = 0

    def for_input(self, raw: _RawInput) -> list[str]:
        staged_dir = self._tmp / raw.table
        staged_dir.mkdir(parents=True, exist_ok=True)
        staged = [staged_dir / f"{i:06d}.parquet" for i in range(len(raw.files))]
        # Daily partitions make many small files: fetching them in parallel hides the object store's latency.
        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(self._source, raw.files, staged))

    def _source(self, file: tuple[str, str, pa.Schema], staged: Path) -> str:
        key, fmt, schema = file
        if fmt == "parquet" and isinstance(self._store, DirectoryStore):
            return str(self._store.root / key)
        if fmt == "parquet" and self._engine.reads_s3:
            return f"s3://{self._settings.objects.buckets['lake']}/{key}"
        data, _ = self._store.get(key)
        if fmt == "parquet":
            staged.write_bytes(data)
        else:
            pq.write_table(read_bytes(fmt, data, schema), staged)
        self.staged += 1
        return str(staged)


def _canonical(table: pa.Table) -> pa.Table:
    """The rows sorted by every column, in one chunk: the same rows always give the same table and digest."""
    if table.num_rows == 0 or table.num_columns == 0:
        return table.combine_chunks()
    return table.sort_by([(name, "ascending") for name in table.column_names]).combine_chunks()


def content_digest(table: pa.Table) -> str:
    """sha256 of a canonical table's column names, types and rows."""
    digest = hashlib.sha256(str([(f.name, str(f.type)) for f in table.schema]).encode())
    for batch in table.to_batches(max_chunksize=10_000):
        digest.update(json.dumps(batch.to_pylist(), default=str, sort_keys=False).encode())
    return digest.hexdigest()


def _parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def _utc_iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _store_mart(store: ObjectStore, settings: Settings, model: Model, table: pa.Table, *, engine: str,
                run_id: str, started: datetime, inputs: dict[str, int]) -> tuple[bool, str | None]:
    """Commit the mart's output unless it equals the last committed one; (committed, manifest key)."""
    prefix = settings.extract.prefix
    digest = content_digest(table)
    last = lake.last_mart_manifest(store, prefix, model.name)
    if last is not None and last.get("content_sha256") == digest:
        return False, None
    data = _parquet_bytes(table)
    key = lake.mart_key(prefix, model.name, run_id)
    store.put(key, data, "application/vnd.apache.parquet")
    manifest: dict[str, Any] = {
        "version": lake.MANIFEST_VERSION, "zone": lake.MARTS_ZONE, "table": model.name, "run_id": run_id,
        "engine": engine, "files": [{"key": key, "rows": table.num_rows, "bytes": len(data)}],
        "rows": table.num_rows, "bytes": len(data),
        "schema": [{"name": f.name, "type": str(f.type)} for f in table.schema],
        "content_sha256": digest, "inputs": inputs,
        "sql_sha256": hashlib.sha256(model.sql.encode()).hexdigest(),
        "started_at": _utc_iso(started), "committed_at": _utc_iso(datetime.now(UTC)),
    }
    return True, lake.commit_manifest(store, prefix, manifest)


class _Progress:
    def __init__(self, enabled: bool) -> None:
        self._progress: Any = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), console=Console(stderr=True))

    @contextmanager
    def running(self, total: int) -> Iterator[None]:
        if self._progress is None:
            yield
            return
        with self._progress:
            self._task = self._progress.add_task("reading the lake", total=total)
            yield

    def step(self, description: str, advance: int = 0) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=description, advance=advance)

    def note(self, message: str) -> None:
        if self._progress is not None:
            self._progress.console.print(message)
        else:
            log.warning(message)


def run_process(settings: Settings, *, engine: str | None = None, models: list[str] | None = None,
                progress: bool = False) -> list[ModelResult]:
    """Run `models` (default: every model) and what they read, on `engine` (default: settings.process_engine).

    Returns one result per model run, in the order they ran. ProcessError for an unknown model, a lake without
    the data the models need, or a model that fails.
    """
    try:
        catalog = load_models()
        order = execution_order(catalog, models)
    except ModelError as exc:
        raise ProcessError(str(exc)) from None
    prefix = settings.extract.prefix
    store = make_object_store(settings, "lake")
    shown = _Progress(progress)
    results: list[ModelResult] = []
    started = datetime.now(UTC)
    run_id = f"{started:%Y%m%dT%H%M%S}Z-{secrets.token_hex(4)}"
    try:
        inputs = _raw_inputs(store, prefix, raw_tables(catalog, order))
        with ExitStack() as stack:
            stack.enter_context(shown.running(len(order)))
            shown.step(f"starting {engine or settings.process_engine}")
            try:
                running = open_engine(settings, engine)
            except EngineError as exc:
                raise ProcessError(str(exc)) from None
            stack.callback(running.close)
            problem = getattr(running, "s3_problem", None)
            if problem:
                shown.note(str(problem))
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lakefront-process-")))
            sources = _Sources(settings, store, running, tmp)
            for raw in inputs:
                shown.step(f"reading raw {raw.table}")
                running.register_raw(raw.table, sources.for_input(raw), raw.schema)
            sequences = {raw.table: raw.sequence for raw in inputs}
            for name in order:
                model = catalog[name]
                shown.step(name)
                began = time.perf_counter()
                try:
                    running.run_model(name, model.sql)
                    output = _canonical(running.to_arrow(name)) if model.is_mart else None
                except EngineError as exc:
                    raise ProcessError(str(exc)) from None
                committed, key = False, None
                if output is not None:
                    needed = {t: sequences[t] for t in raw_tables(catalog, execution_order(catalog, [name]))}
                    committed, key = _store_mart(store, settings, model, output, engine=running.name,
                                                 run_id=run_id, started=started, inputs=needed)
                rows = output.num_rows if output is not None else None
                results.append(ModelResult(name, _kind(model), rows, time.perf_counter() - began, running.name,
                                           committed, key))
                shown.step(name, advance=1)
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()
    return results
