"""Instance groups: the Auto Scaling role. Start N instances of a tier, health-check them, and replace
any that exits or stops answering, registering each change with the load balancer.

Nothing here blocks for long: `tick()` is one supervision step, called by `up` every ~0.25 s, so a
group replacing an instance never delays the checks of another.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import httpx

from lakefront.servers.procs import free_port, spawn, stop

log = logging.getLogger("lakefront.control")

Command = Callable[[str, int], Sequence[str]]
"""Builds the argv of one instance from its name and port."""


class SupervisorError(RuntimeError):
    """An instance group could not reach its desired capacity; the message is one line."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Instance:
    name: str
    tier: str
    port: int
    proc: subprocess.Popen[bytes]
    started_at: str = field(default_factory=now_iso)
    restarts: int = 0
    state: Literal["starting", "in_service", "draining"] = "starting"
    """draining: taken out of the balancer by a deployment, which stops and removes it (control/deploy.py)."""
    deadline: float = 0.0
    """When a starting instance that has not become ready counts as failed."""
    health_failures: int = 0
    version: str = "installed"
    """The application version this instance runs (control/versions.py); "installed": the environment's own code."""
    version_env: dict[str, str] = field(default_factory=dict)
    """What running that version adds to the group's environment (PYTHONPATH to its snapshot)."""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "tier": self.tier, "pid": self.pid, "port": self.port,
                "started_at": self.started_at, "restarts": self.restarts, "state": self.state,
                "version": self.version}


def healthz(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        return httpx.get(f"http://{host}:{port}/healthz", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


class InstanceGroup:
    def __init__(self, tier: str, size: int, command: Command, *, host: str, log_dir: Path,
                 env: dict[str, str] | None = None, health_interval_s: float = 1.0,
                 unhealthy_after: int = 3, start_timeout_s: float = 60.0) -> None:
        self.tier = tier
        self.size = size
        self.command = command
        self.host = host
        self.log_dir = log_dir
        self.env = env
        self.health_interval_s = health_interval_s
        self.unhealthy_after = unhealthy_after
        self.start_timeout_s = start_timeout_s
        self.instances: list[Instance] = []
        self.on_targets: Callable[[list[int]], None] | None = None
        """Registers the in-service ports with the load balancer; set once its listener is open."""
        self.version = "installed"
        """The version new and replacement instances run unless told otherwise; a deployment moves it."""
        self.version_env: dict[str, str] = {}
        self._next_health = 0.0
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix=f"health-{tier}")

    # Launching -------------------------------------------------------------------------------------

    def _launch(self, name: str, restarts: int = 0, version: str | None = None,
                version_env: dict[str, str] | None = None) -> Instance:
        if version is None:
            version, version_env = self.version, self.version_env
        version_env = dict(version_env or {})
        port = free_port(self.host)
        argv = self.command(name, port)
        env = (self.env or {}) | version_env if version_env else self.env
        proc = spawn(argv, log_path=self.log_dir / f"{name}.log", env=env)
        inst = Instance(name, self.tier, port, proc, restarts=restarts,
                        deadline=time.monotonic() + self.start_timeout_s, version=version,
                        version_env=version_env)
        log.info("%s: started %s pid=%d port=%d version=%s", self.tier, name, proc.pid, port, version)
        return inst

    def launch(self, name: str, version: str, version_env: dict[str, str]) -> Instance:
        """Add one instance of `version`; `tick()` registers it once its health check passes."""
        inst = self._launch(name, version=version, version_env=version_env)
        self.instances.append(inst)
        return inst

    def deregister(self, instances: list[Instance]) -> None:
        """Take `instances` out of the balancer in one update; the caller drains, stops and removes them."""
        for inst in instances:
            inst.state = "draining"
        self._register()
        for inst in instances:
            log.info("%s: deregistered %s %s:%d (draining)", self.tier, inst.name, self.host, inst.port)

    def remove(self, inst: Instance) -> None:
        """Forget a stopped instance (the end of a drain)."""
        if inst in self.instances:
            self.instances.remove(inst)

    def start(self, should_stop: Callable[[], bool] = lambda: False) -> None:
        """Start every instance and return when all are ready; fail if one cannot start."""
        self.instances = [self._launch(f"{self.tier}-{i}") for i in range(1, self.size + 1)]
        while any(i.state == "starting" for i in self.instances):
            if should_stop():
                raise SupervisorError(f"{self.tier}: start interrupted")
            for inst in self.instances:
                if inst.state != "starting":
                    continue
                if inst.proc.poll() is not None:
                    raise SupervisorError(f"{inst.name} exited with status {inst.proc.returncode} during "
                                          f"start; see {self.log_dir / (inst.name + '.log')}")
                if time.monotonic() > inst.deadline:
                    raise SupervisorError(f"{inst.name} not ready within {self.start_timeout_s:.0f}s; "
                                          f"see {self.log_dir / (inst.name + '.log')}")
                if healthz(self.host, inst.port, timeout=0.5):
                    inst.state = "in_service"
                    log.info("%s: %s ready on port %d", self.tier, inst.name, inst.port)
            time.sleep(0.05)

    def ports(self) -> list[int]:
        return [i.port for i in self.instances if i.state == "in_service"]

    def _register(self) -> None:
        if self.on_targets is not None:
            self.on_targets(self.ports())

    # Supervision -----------------------------------------------------------------------------------

    def _replace(self, inst: Instance, why: str) -> Instance:
        log.info("%s: %s pid=%d port=%d %s", self.tier, inst.name, inst.pid, inst.port, why)
        was_registered = inst.state == "in_service"
        inst.state = "starting"  # out of the target list before anything else
        if was_registered and inst.proc.poll() is None:
            # Alive but unhealthy: stop sending it requests before stopping it.
            self._register()
            log.info("%s: deregistered %s %s:%d", self.tier, inst.name, self.host, inst.port)
        # A dead instance stays in the balancer's list until its replacement is ready, then both
        # change in one update: the balancer's health checks already route around it, and every
        # config change makes Caddy drop the retries of requests in flight (their context ends with
        # the old config), so one change is better than two.
        if inst.proc.poll() is None:
            stop([inst.proc], timeout=2.0)
        replacement = self._launch(inst.name, restarts=inst.restarts + 1, version=inst.version,
                                   version_env=inst.version_env)
        self.instances[self.instances.index(inst)] = replacement
        return replacement

    def tick(self) -> bool:
        """One supervision step. Returns True when an instance changed (the run state must be saved)."""
        changed = False
        now = time.monotonic()
        for inst in list(self.instances):
            if inst.state == "draining":
                continue  # its deployment stops it on purpose
            code = inst.proc.poll()
            if code is not None:
                self._replace(inst, f"exited with status {code}; replacing")
                changed = True
            elif inst.state == "starting" and now > inst.deadline:
                self._replace(inst, f"not ready after {self.start_timeout_s:.0f}s; replacing")
                changed = True
        starting = [i for i in self.instances if i.state == "starting" and i.proc.poll() is None]
        for inst, ok in zip(starting, self._probe(starting, 0.5), strict=True):
            if ok:
                inst.state = "in_service"
                log.info("%s: %s ready on port %d", self.tier, inst.name, inst.port)
                self._register()
                log.info("%s: registered %s %s:%d", self.tier, inst.name, self.host, inst.port)
                changed = True
        if now >= self._next_health:
            self._next_health = now + self.health_interval_s
            changed |= self._health_checks()
        return changed

    def _probe(self, instances: list[Instance], timeout: float) -> list[bool]:
        return list(self._pool.map(lambda i: healthz(self.host, i.port, timeout), instances))

    def _health_checks(self) -> bool:
        serving = [i for i in self.instances if i.state == "in_service"]
        changed = False
        for inst, ok in zip(serving, self._probe(serving, 1.0), strict=True):
            if ok:
                inst.health_failures = 0
                continue
            inst.health_failures += 1
            log.info("%s: %s failed health check %d/%d", self.tier, inst.name, inst.health_failures,
                     self.unhealthy_after)
            if inst.health_failures >= self.unhealthy_after and inst.proc.poll() is None:
                self._replace(inst, "unhealthy; terminating and replacing")
                changed = True
        return changed

    def stop(self, timeout: float = 10.0) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        procs = [i.proc for i in self.instances]
        killed = stop(procs, timeout=timeout)
        for pid in killed:
            log.info("%s: pid=%d did not stop in %.0fs; killed", self.tier, pid, timeout)
        if procs:
            log.info("%s: stopped %d instance(s)", self.tier, len(procs))
