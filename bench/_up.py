"""`lakefront up` for a benchmark: start it over a var dir, wait until it serves, stop exactly it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path


def output(var_dir: Path) -> str:
    return "".join((var_dir / name).read_text() for name in ("up.out", "up.err") if (var_dir / name).exists())


def start_up(var_dir: Path, env: dict[str, str], *, timeout_s: float) -> subprocess.Popen[bytes]:
    """Run `lakefront up` (stdout to var_dir/up.out, stderr to up.err) until it prints its URLs."""
    var_dir.mkdir(parents=True, exist_ok=True)
    with open(var_dir / "up.out", "wb") as out, open(var_dir / "up.err", "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "lakefront", "up"], env=env, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, cwd=var_dir)
    deadline = time.monotonic() + timeout_s
    while "store " not in (var_dir / "up.out").read_text():
        if proc.poll() is not None:
            raise SystemExit(f"lakefront up exited with {proc.returncode}:\n{output(var_dir)[-3000:]}")
        if time.monotonic() > deadline:
            stop_up(proc)
            raise SystemExit(f"lakefront up not ready in {timeout_s:.0f}s:\n{output(var_dir)[-3000:]}")
        time.sleep(0.2)
    return proc


def stop_up(proc: subprocess.Popen[bytes] | None, timeout_s: float = 60.0) -> None:
    """SIGTERM (up stops everything it started), then SIGKILL if it takes longer than timeout_s."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
