"""Child processes that never outlive their parent, and the small process checks around them."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_handed_out: set[int] = set()


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    def preexec() -> None:
        # Own process group: a Ctrl-C in the terminal reaches `up` only, which then stops children in order.
        os.setpgid(0, 0)
        # The kernel kills the child when `up` dies, even by SIGKILL, so no instance outlives it.
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def spawn(argv: Sequence[str], *, log_path: Path, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start `argv` with stdout and stderr appended to `log_path`, tied to this process's life."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        # The argv is the control plane's own (a server binary or `lakefront serve`), never a shell string.
        return subprocess.Popen(  # nosec B603
            list(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
            cwd=cwd, preexec_fn=_die_with_parent(os.getpid()), close_fds=True,
        )


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now, never the same one twice in this process."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free port on {host}")


def free_port_run(count: int, host: str = "127.0.0.1") -> int:
    """The first of `count` consecutive free ports whose Redis Cluster bus ports (+10000) are free too, all
    below the kernel's ephemeral range (32768), where no outgoing connection can take one before a node
    binds it (an ephemeral port from free_port() can have no bus port at all past 55535)."""
    import random

    def bindable(port: int) -> bool:
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                return False
        return True

    for _ in range(200):
        # A port number, not a secret.
        first = random.randrange(20000, 22700 - count)  # nosec B311
        if all(bindable(p) and bindable(p + 10000) for p in range(first, first + count)):
            return first
    raise RuntimeError(f"no run of {count} free ports found")


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    """True when `pid` runs; a zombie (exited, not yet reaped by its parent) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state letter follows the command name, which is in parentheses and may contain spaces.
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def stop(procs: Sequence[subprocess.Popen[bytes]], timeout: float = 10.0) -> list[int]:
    """SIGTERM every process, wait up to `timeout`, SIGKILL the rest. Returns the pids killed hard."""
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    killed = []
    for proc in procs:
        if proc.poll() is None:
            killed.append(proc.pid)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()
    return killed


def terminate(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Stop one server: SIGCONT (a paused process would never see the SIGTERM), SIGTERM, SIGKILL after
    `timeout`. Returns True when it had to be killed."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGCONT)
    return bool(stop([proc], timeout=timeout))


def crash(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL and reap, as a crash would: no shutdown of any kind."""
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    proc.wait()


def wait_until_ready(proc: subprocess.Popen[bytes] | None, probe: Callable[[], bool], *, what: str,
                     error: type[Exception], timeout: float, interval: float = 0.05,
                     retry_on: tuple[type[BaseException], ...] = (), hint: str = "") -> float:
    """Poll `probe` until it returns True; returns the seconds waited.

    A probe that raises one of `retry_on` counts as not ready yet (its last error is reported);
    a process that exits meanwhile, or the timeout, raises `error` with one line naming `what`.
    """
    started = time.monotonic()
    deadline = started + timeout
    last: BaseException | None = None
    suffix = f"; {hint}" if hint else ""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise error(f"{what} exited with status {proc.returncode} at start{suffix}")
        try:
            if probe():
                return time.monotonic() - started
        except retry_on as exc:
            last = exc
        time.sleep(interval)
    detail = f" ({last})" if last is not None else ""
    raise error(f"{what} not ready within {timeout:.0f}s{detail}{suffix}")
