"""The whole stack, started the way a user starts it: `lakefront up` in a subprocess.

`stack` (session-scoped) is shared by every e2e module; `start_stack` starts a private one for a
test that has to stop it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from lakefront.servers.procs import free_port
from support import MANY_SIGNUPS

READY_TIMEOUT_S = 120.0


@dataclass
class Stack:
    var_dir: Path
    env: dict[str, str]
    public_url: str
    internal_url: str
    admin_url: str
    proc: subprocess.Popen[bytes] | None = None
    profile: str = "embedded"
    logs: list[Any] = field(default_factory=list)

    @property
    def state_file(self) -> Path:
        return self.var_dir / "run" / "state.json"

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.state_file.read_text())
        return result

    def lakefront(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run a `lakefront` command against this stack."""
        return subprocess.run([sys.executable, "-m", "lakefront", *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout, check=False)

    def output(self) -> str:
        return "".join((self.var_dir / name).read_text() for name in ("up.out", "up.err")
                       if (self.var_dir / name).exists())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for handle in self.logs:
            handle.close()
        self.logs.clear()


def stack_env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEFRONT_")}
    env |= {
        "LAKEFRONT_VAR_DIR": str(var_dir),
        "LAKEFRONT_LB__PUBLIC_PORT": str(free_port()),
        "LAKEFRONT_LB__INTERNAL_PORT": str(free_port()),
        "LAKEFRONT_LB__ADMIN_PORT": str(free_port()),
        "LAKEFRONT_DNS__PORT": str(free_port()),
        "LAKEFRONT_LB__HEALTH_INTERVAL_S": "0.5",
        "LAKEFRONT_DEMO__SCALE": "0.02",
        # The analytics pipeline on a short schedule, so a test can watch `up` run it; DuckDB in both
        # profiles here (Spark's equality with DuckDB is tests/integration/test_engines_parity.py's job).
        "LAKEFRONT_EXTRACT__INTERVAL_S": "10",
        "LAKEFRONT_PROCESS__ENGINE": "duckdb",
        "LAKEFRONT_CONFIG": str(var_dir / "no-lakefront.toml"),  # ignore any lakefront.toml in the cwd
        **MANY_SIGNUPS,
    }
    return env | extra


def start_stack(var_dir: Path, *up_args: str, **extra_env: str) -> Stack:
    """Run `lakefront up` and return once it has printed its URLs and the store answers."""
    var_dir.mkdir(parents=True, exist_ok=True)
    env = stack_env(var_dir, **extra_env)
    host = "127.0.0.1"
    stack = Stack(var_dir, env, f"http://{host}:{env['LAKEFRONT_LB__PUBLIC_PORT']}",
                  f"http://{host}:{env['LAKEFRONT_LB__INTERNAL_PORT']}",
                  f"http://{host}:{env['LAKEFRONT_LB__ADMIN_PORT']}")
    out, err = open(var_dir / "up.out", "wb"), open(var_dir / "up.err", "wb")  # noqa: SIM115
    stack.logs += [out, err]
    stack.proc = subprocess.Popen([sys.executable, "-m", "lakefront", "up", *up_args], env=env,
                                  stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=var_dir)
    deadline = time.monotonic() + READY_TIMEOUT_S
    try:
        while "store " not in (var_dir / "up.out").read_text():
            if stack.proc.poll() is not None:
                pytest.fail(f"lakefront up exited with {stack.proc.returncode}:\n{stack.output()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"lakefront up not ready in {READY_TIMEOUT_S:.0f}s:\n{stack.output()[-3000:]}")
            time.sleep(0.2)
        assert httpx.get(f"{stack.public_url}/healthz", timeout=5).status_code == 200
    except BaseException:
        stack.stop()
        raise
    return stack


def services_env() -> dict[str, str]:
    """The services profile with its managed servers (MariaDB, Redis, SeaweedFS) on free ports."""
    from lakefront.servers.procs import free_port_run
    from lakefront.servers.seaweedfs import pick_s3_port

    return {"LAKEFRONT_PROFILE": "services", "LAKEFRONT_DB__PORT": str(free_port()),
            "LAKEFRONT_DB__STANDBY_PORT": str(free_port()), "LAKEFRONT_NLB__PORT": str(free_port()),
            # The cache cluster's nodes take cache.port, +1, ... and their buses +10000: a run below 32768.
            "LAKEFRONT_CACHE__PORT": str(free_port_run(10)), "LAKEFRONT_OBJECTS__S3_PORT": str(pick_s3_port())}


# Package scope: the last stack stops when the e2e tests end, not when the whole session does
# (a session-scoped one kept its servers and its pipeline running through every later suite).
@pytest.fixture(scope="package", params=["embedded", "services"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole system with small demo data: 2 web and 2 app instances behind Caddy, in each profile."""
    extra = services_env() if request.param == "services" else {}
    running = start_stack(tmp_path_factory.mktemp(f"stack-{request.param}"), **extra)
    running.profile = request.param
    yield running
    running.stop()
