"""Batched inserts, and the progress display of the phases."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

BATCH_ROWS = 5000


class Sink:
    """Buffers rows per table and inserts them with executemany, parents before children.

    Tables flush in the order they were first written to, so an order's lines never reach the
    database before the order itself (foreign keys are checked per statement).
    """

    def __init__(self, conn: sa.Connection, batch_rows: int = BATCH_ROWS) -> None:
        self.conn = conn
        self.batch_rows = batch_rows
        self.buffers: dict[sa.Table, list[dict[str, Any]]] = {}
        self.counts: dict[str, int] = {}

    def add(self, table: sa.Table, row: dict[str, Any]) -> None:
        buffer = self.buffers.setdefault(table, [])
        buffer.append(row)
        if len(buffer) >= self.batch_rows:
            self.flush()

    def extend(self, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self.add(table, row)

    def flush(self) -> None:
        for table, rows in self.buffers.items():
            if rows:
                self.conn.execute(table.insert(), rows)
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
