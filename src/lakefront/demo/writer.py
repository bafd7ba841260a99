"""Batched inserts, and the progress display of the phases."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

BATCH_ROWS = 5000


class _BulkInsert:
    """One table's INSERT compiled once, with its columns' bind processors applied by hand.

    Going through the DBAPI's executemany with pre-processed values is several times faster
    than letting SQLAlchemy process every parameter of millions of rows, and stays portable:
    the SQL comes from the dialect's compiler and the values from each column type's own
    processor (so SQLite stores timestamps in exactly the format SQLAlchemy reads back).
    """

    def __init__(self, table: sa.Table, dialect: sa.Dialect) -> None:
        names = [column.name for column in table.columns]
        compiled = table.insert().compile(dialect=dialect, column_keys=names)
        self.sql = compiled.string
        self.positional = bool(compiled.positional)
        self.keys: list[str] = list(compiled.positiontup or []) if self.positional else names
        self.processors: list[Callable[[Any], Any] | None] = []
        memos: dict[type, Callable[[Any], Any]] = {}
        for key in self.keys:
            column_type = table.columns[key].type
            processor: Callable[[Any], Any] | None = column_type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None and isinstance(column_type, sa.types.TypeDecorator):
                # Rows repeat one timestamp in several columns (created_at = updated_at): convert it once.
                processor = memos.setdefault(type(column_type), _memoize_last(processor))
            self.processors.append(processor)

    def parameters(self, rows: list[dict[str, Any]]) -> list[Any]:
        values = operator.itemgetter(*self.keys)
        processed = [(i, p) for i, p in enumerate(self.processors) if p is not None]
        out: list[Any] = []
        for row in rows:
            params = list(values(row))
            for i, process in processed:
                if params[i] is not None:
                    params[i] = process(params[i])
            out.append(tuple(params) if self.positional else dict(zip(self.keys, params, strict=True)))
        return out


def _memoize_last(processor: Callable[[Any], Any]) -> Callable[[Any], Any]:
    last_in: list[Any] = [None]
    last_out: list[Any] = [None]

    def process(value: Any) -> Any:
        if value is not last_in[0]:
            last_in[0] = value
            last_out[0] = processor(value)
        return last_out[0]

    return process


class Sink:
    """Buffers rows per table and inserts them with executemany, parents before children.

    Tables flush in the order they were first written to, so an order's lines never reach the
    database before the order itself (foreign keys are checked per statement). Every row must
    give every column of its table.
    """

    def __init__(self, conn: sa.Connection, batch_rows: int = BATCH_ROWS) -> None:
        self.conn = conn
        self.batch_rows = batch_rows
        self.buffers: dict[sa.Table, list[dict[str, Any]]] = {}
        self.inserts: dict[sa.Table, _BulkInsert] = {}
        self.counts: dict[str, int] = {}

    def add(self, table: sa.Table, row: dict[str, Any]) -> None:
        buffer = self.buffers.get(table)
        if buffer is None:
            buffer = self.buffers[table] = []
            self.inserts[table] = _BulkInsert(table, self.conn.dialect)
        buffer.append(row)
        if len(buffer) >= self.batch_rows:
            self.flush()

    def extend(self, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self.add(table, row)

    def flush(self) -> None:
        for table, rows in self.buffers.items():
            if rows:
                insert = self.inserts[table]
                self.conn.exec_driver_sql(insert.sql, insert.parameters(rows))
                self.counts[table.name] = self.counts.get(table.name, 0) + len(rows)
                rows.clear()


class Phases:
    """One progress bar per phase, or nothing at all when progress is off."""

    def __init__(self, enabled: bool, console: Console | None = None) -> None:
        self.enabled = enabled
        self.console = console or Console(stderr=True)
        self.progress: Progress | None = None

    @contextmanager
    def running(self) -> Iterator[Phases]:
        if not self.enabled:
            yield self
            return
        self.progress = Progress(
            TextColumn("{task.description:<32}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=self.console, transient=False,
        )
        with self.progress:
            yield self
        self.progress = None

    def phase(self, description: str, total: int) -> Tracker:
        if self.progress is None:
            return Tracker(None, None, total)
        return Tracker(self.progress, self.progress.add_task(description, total=total), total)


class Tracker:
    def __init__(self, progress: Progress | None, task: TaskID | None, total: int) -> None:
        self.progress = progress
        self.task = task
        self.total = total

    def advance(self, amount: int = 1) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.advance(self.task, amount)

    def done(self) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, completed=self.total)
