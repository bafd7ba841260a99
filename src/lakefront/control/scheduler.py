"""Scheduled jobs of the control plane: the analytics pipeline (extract, then process), every
`extract.interval_s` (control/up.py schedules it).

Each run is a child process (`lakefront pipeline`), so a crash or a memory spike in a job never
touches `up` or the instances; its output goes to var/log/<job>.log, and one line per run goes to
`up`'s log. A run still going when the next is due is not doubled: the schedule waits for it.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakefront.control.supervisor import now_iso
from lakefront.servers.procs import spawn, stop

log = logging.getLogger("lakefront.control")


@dataclass
class Job:
    name: str
    argv: Sequence[str]
    interval_s: float
    log_path: Path
    env: dict[str, str] | None = None
    first_delay_s: float = 5.0
    """The first run starts shortly after `up` is ready, not a whole interval later."""
    proc: subprocess.Popen[bytes] | None = None
    next_at: float = 0.0
    runs: int = 0
    last: dict[str, Any] = field(default_factory=dict)
    _started: float = 0.0

    def __post_init__(self) -> None:
        self.next_at = time.monotonic() + self.first_delay_s

    def tick(self) -> bool:
        """Start a due run or collect a finished one; True when something changed."""
        now = time.monotonic()
        if self.proc is not None:
            code = self.proc.poll()
            if code is None:
                return False
            seconds = now - self._started
            self.last = {"started_at": self.last.get("started_at"), "finished_at": now_iso(),
                         "exit_code": code, "seconds": round(seconds, 1), "ok": code == 0}
            log.info("%s: run %d %s in %.1fs (exit %d); log %s", self.name, self.runs,
                     "succeeded" if code == 0 else "FAILED", seconds, code, self.log_path)
            self.proc = None
            self.next_at = now + self.interval_s
            return True
        if now < self.next_at:
            return False
        self.runs += 1
        self._started = now
        self.proc = spawn(self.argv, log_path=self.log_path, env=self.env)
        self.last = {"started_at": now_iso(), "running": True}
        log.info("%s: run %d started (pid %d)", self.name, self.runs, self.proc.pid)
        return True

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "interval_s": self.interval_s, "runs": self.runs, "last": self.last}

    def stop(self) -> None:
        if self.proc is not None:
            # A killed run commits nothing it had not finished: its files are orphans readers never see.
            stop([self.proc], timeout=10.0)
            log.info("%s: stopped the run in progress", self.name)
            self.proc = None
