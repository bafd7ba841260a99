"""Progress bars on stderr for the analytics commands (rich), or nothing when they are off (tests, jobs)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger("lakefront.analytics")


class Progress:
    """Bars for long steps: one per table (extract) or one for a whole run (process)."""

    def __init__(self, enabled: bool, width: int = 12) -> None:
        self._progress: Any = None
        self._run: Any = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn(f"{{task.description:<{width}}}"), BarColumn(),
                                      MofNCompleteColumn(), TimeElapsedColumn(), console=Console(stderr=True))

    @property
    def enabled(self) -> bool:
        return self._progress is not None

    @contextmanager
    def running(self, run: str | None = None, total: int = 0) -> Iterator[None]:
        """Show the bars while the block runs; `run` names a bar for the whole run, of `total` steps."""
        if self._progress is None:
            yield
            return
        with self._progress:
            if run is not None:
                self._run = self._progress.add_task(run, total=total)
            yield

    def task(self, name: str, total: int) -> Any:
        return None if self._progress is None else self._progress.add_task(name, total=total)

    def advance(self, task: Any, amount: int) -> None:
        if self._progress is not None:
            self._progress.advance(task, amount)

    def step(self, description: str, advance: int = 0) -> None:
        """Rename the run's bar (what it is doing now) and advance it."""
        if self._progress is not None and self._run is not None:
            self._progress.update(self._run, description=description, advance=advance)

    def note(self, message: str) -> None:
        if self._progress is not None:
            self._progress.console.print(message)
        else:
            log.warning(message)
