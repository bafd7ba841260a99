"""Instance groups: the Auto Scaling role. Start N instances of a tier, health-check them, and replace
any that exits or stops answering, registering each change with the load balancer.

Nothing here blocks for long: `tick()` is one supervision step, called by `up` every ~0.25 s, so a
group replacing an instance never delays the checks of another.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import httpx

from lakefront.control.autoscale import CpuMeter, Policy, TargetTracking, backoff_s
from lakefront.servers.procs import free_port, spawn, stop

log = logging.getLogger("lakefront.control")

LEAVING = ("draining", "terminating")
"""States of an instance on its way out (a scale-in or a deployment): not counted in the group's size."""
MIN_DRAIN_S = 1.0
"""A deregistered instance still gets the requests the balancer picked it for just before the change: a drain
waits this long at least, even when the balancer already shows nothing in flight on it."""

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
    state: Literal["starting", "in_service", "draining", "terminating", "backoff"] = "starting"
    """draining/terminating: on its way out, for a scale-in or a deployment alike (InstanceGroup.drain)."""
    deadline: float = 0.0
    """When a starting instance that has not become ready counts as failed; when a draining one is stopped
    whatever it still has in flight, a terminating one killed, a backing-off one started again."""
    drain_since: float = 0.0
    """Monotonic time a draining instance left the balancer."""
    health_failures: int = 0
    crashes: int = 0
    """Exits in a row before staying in service for `stable_s` (the crash-loop count)."""
    in_service_at: float = math.inf
    """Monotonic time it became in service."""
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
                "crashes": self.crashes, "version": self.version}


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
        self.in_flight: Callable[[str], int | None] = lambda _address: None
        """Requests the balancer has in flight on "host:port", None when it cannot tell (a drain then waits the
        whole deregistration delay)."""
        self.version = "installed"
        """The version new and replacement instances run unless told otherwise; a deployment moves it."""
        self.version_env: dict[str, str] = {}
        self.hold = False
        """Set while a deployment runs (control/deploy.py): the group stops moving toward `desired` on its own
        (the deployment adds and retires instances), but still drains, replaces and backs off."""
        self._next_health = 0.0
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix=f"health-{tier}")
        # Auto Scaling (autoscale.py). Without configure_scaling the group keeps its size.
        self.desired = size
        self.policy = Policy(size, size, 0.0, 1.0, 0.0, 0.0, 0.0)
        self.scaler = TargetTracking(self.policy)
        self.cpu = CpuMeter()
        self.deregistration_delay_s = 0.0
        self.stop_timeout_s = 7.0
        self.restart_backoff_s = 1.0
        self.restart_backoff_max_s = 30.0
        self.stable_s = 10.0
        self.activities: deque[dict[str, Any]] = deque(maxlen=20)
        self._serial = size

    # Launching -------------------------------------------------------------------------------------

    def _launch(self, name: str, restarts: int = 0, crashes: int = 0, version: str | None = None,
                version_env: dict[str, str] | None = None) -> Instance:
        if version is None:
            version, version_env = self.version, self.version_env
        version_env = dict(version_env or {})
        port = free_port(self.host)
        argv = self.command(name, port)
        env = (self.env or {}) | version_env if version_env else self.env
        proc = spawn(argv, log_path=self.log_dir / f"{name}.log", env=env)
        inst = Instance(name, self.tier, port, proc, restarts=restarts,
                        deadline=time.monotonic() + self.start_timeout_s, crashes=crashes, version=version,
                        version_env=version_env)
        log.info("%s: started %s pid=%d port=%d version=%s", self.tier, name, proc.pid, port, version)
        return inst

    def launch(self, name: str, version: str, version_env: dict[str, str]) -> Instance:
        """Add one instance of `version`; `tick()` registers it once its health check passes."""
        inst = self._launch(name, version=version, version_env=version_env)
        self.instances.append(inst)
        return inst

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
                    inst.in_service_at = -math.inf  # the group's first instances need no warm-up
                    log.info("%s: %s ready on port %d", self.tier, inst.name, inst.port)
            time.sleep(0.05)

    def ports(self) -> list[int]:
        return [i.port for i in self.instances if i.state == "in_service"]

    def _register(self) -> None:
        if self.on_targets is not None:
            self.on_targets(self.ports())

    # Supervision -----------------------------------------------------------------------------------

    def _replace(self, inst: Instance, why: str, crashes: int = 0) -> Instance:
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
        replacement = self._launch(inst.name, restarts=inst.restarts + 1, crashes=crashes, version=inst.version,
                                   version_env=inst.version_env)
        self.instances[self.instances.index(inst)] = replacement
        return replacement

    def tick(self) -> bool:
        """One supervision step. Returns True when an instance changed (the run state must be saved)."""
        changed = False
        now = time.monotonic()
        changed |= self._scaling_step(now)
        for inst in list(self.instances):
            if inst.state in LEAVING or inst.state == "backoff":
                continue
            code = inst.proc.poll()
            if code is not None:
                changed |= self._exited(inst, f"exited with status {code}", now)
            elif inst.state == "starting" and now > inst.deadline:
                changed |= self._exited(inst, f"not ready after {self.start_timeout_s:.0f}s", now)
        starting = [i for i in self.instances if i.state == "starting" and i.proc.poll() is None]
        for inst, ok in zip(starting, self._probe(starting, 0.5), strict=True):
            if ok:
                inst.state = "in_service"
                inst.in_service_at = now
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
                self._replace(inst, "unhealthy; terminating and replacing",
                              self._crashes_after(inst, time.monotonic()))
                changed = True
        return changed

    # Crash loops -----------------------------------------------------------------------------------

    def _crashes_after(self, inst: Instance, now: float) -> int:
        """The crash count of `inst`'s replacement: 0 if it had been in service for `stable_s`."""
        return 0 if now - inst.in_service_at >= self.stable_s else inst.crashes + 1

    def _exited(self, inst: Instance, why: str, now: float) -> bool:
        """An instance exited or never became ready: replace it at once, or after the crash-loop backoff."""
        crashes = self._crashes_after(inst, now)
        delay = backoff_s(crashes - 1, self.restart_backoff_s, self.restart_backoff_max_s)
        if delay <= 0:
            self._replace(inst, f"{why}; replacing", crashes)
            return True
        was_registered = inst.state == "in_service"
        if inst.proc.poll() is None:
            stop([inst.proc], timeout=2.0)
        inst.state, inst.crashes, inst.deadline = "backoff", crashes, now + delay
        if was_registered:
            self._register()
        log.warning("%s: %s pid=%d %s; crash loop (%d in a row): next start in %.1fs", self.tier, inst.name,
                    inst.pid, why, crashes, delay)
        return True

    def _retry_backoffs(self, now: float) -> bool:
        changed = False
        for inst in list(self.instances):
            if inst.state == "backoff" and now >= inst.deadline:
                replacement = self._launch(inst.name, restarts=inst.restarts + 1, crashes=inst.crashes,
                                           version=inst.version, version_env=inst.version_env)
                self.instances[self.instances.index(inst)] = replacement
                changed = True
        return changed

    # Auto Scaling ----------------------------------------------------------------------------------

    def configure_scaling(self, policy: Policy, *, deregistration_delay_s: float, restart_backoff_s: float,
                          restart_backoff_max_s: float, stable_s: float, stop_timeout_s: float = 7.0) -> None:
        self.policy = policy
        self.scaler = TargetTracking(policy)
        self.desired = policy.clamp(self.desired)
        self.deregistration_delay_s = deregistration_delay_s
        self.restart_backoff_s = restart_backoff_s
        self.restart_backoff_max_s = restart_backoff_max_s
        self.stable_s = stable_s
        self.stop_timeout_s = stop_timeout_s

    def active(self) -> list[Instance]:
        """Instances that count toward the size: all but those draining or terminating."""
        return [i for i in self.instances if i.state not in LEAVING]

    def set_desired(self, desired: int, cause: str) -> int:
        """Set the desired capacity (clamped to min/max) and record the activity. Returns the new value."""
        new = self.policy.clamp(desired)
        if new != self.desired:
            activity = {"time": now_iso(), "group": self.tier, "from": self.desired, "to": new, "cause": cause}
            self.activities.append(activity)
            log.info("%s: scaling %d -> %d: %s", self.tier, self.desired, new, cause)
            self.desired = new
        self.scaler.activity(time.monotonic())
        return new

    def observe_load(self, in_flight: dict[int, int], now: float | None = None) -> None:
        """One sample of the policy's metric, which may change `desired`: requests in flight per port
        (Caddy's count), or with metric cpu each settled instance's CPU use since the last sample."""
        now = time.monotonic() if now is None else now
        serving = [i for i in self.instances if i.state == "in_service"]
        settled = [i for i in serving if now - i.in_service_at >= self.policy.warmup_s]
        if self.policy.metric == "cpu":
            cpu = self.cpu.sample(now, [i.proc.pid for i in settled])
            self.scaler.observe(now, [cpu[i.proc.pid] for i in settled if i.proc.pid in cpu])
        else:
            self.scaler.observe(now, [float(in_flight.get(i.port, 0)) for i in settled])
        settling = len(self.active()) - len(settled)
        decision = self.scaler.decide(now, self.desired, settling=settling)
        if decision is not None:
            self.set_desired(decision.desired, decision.cause)

    def _scaling_step(self, now: float) -> bool:
        """Move the group toward `desired`: launch, or drain one; then advance draining instances."""
        changed = self._retry_backoffs(now)
        active = self.active()
        if self.hold:
            pass  # a deployment is adding and retiring instances itself
        elif len(active) < self.desired:
            for _ in range(self.desired - len(active)):
                self._serial += 1
                self.instances.append(self._launch(self._next_name()))
            changed = True
        elif len(active) > self.desired:
            self.drain(self._victims(active, len(active) - self.desired))
            changed = True
        return self._drain_step(now) or changed

    # Draining (the deregistration delay) -----------------------------------------------------------

    def drain(self, instances: list[Instance]) -> None:
        """Take `instances` out of the group's service: out of the balancer in one update, then each is stopped
        once the balancer shows nothing in flight on it (after MIN_DRAIN_S: requests it was picked for just
        before the change), or when the deregistration delay is over, whichever comes first; then forgotten.
        A scale-in and a deployment's retirement are both this."""
        now = time.monotonic()
        registered = [i for i in instances if i.state == "in_service"]
        for inst in instances:
            inst.state, inst.drain_since = "draining", now
            # One the balancer never sent a request to has nothing to drain: stopped at once.
            inst.deadline = now + self.deregistration_delay_s if inst in registered else now
        if registered:
            self._register()
        for inst in registered:
            log.info("%s: deregistered %s %s:%d; draining (at most %.1fs)", self.tier, inst.name, self.host,
                     inst.port, self.deregistration_delay_s)

    def _drain_step(self, now: float) -> bool:
        changed = False
        for inst in list(self.instances):
            if inst.state == "draining":
                drained = (inst.proc.poll() is not None or now >= inst.deadline
                           or (now - inst.drain_since >= MIN_DRAIN_S
                               and self.in_flight(f"{self.host}:{inst.port}") == 0))
                if drained:
                    # The server's own graceful stop finishes anything still in flight.
                    with contextlib.suppress(ProcessLookupError):
                        inst.proc.send_signal(signal.SIGTERM)
                    inst.state, inst.deadline = "terminating", now + self.stop_timeout_s
                    changed = True
            elif inst.state == "terminating":
                code = inst.proc.poll()
                if code is None and now >= inst.deadline:
                    inst.proc.kill()
                    log.info("%s: %s pid=%d did not stop in %.0fs; killed", self.tier, inst.name, inst.pid,
                             self.stop_timeout_s)
                    code = inst.proc.wait()
                if code is not None:
                    self.instances.remove(inst)
                    log.info("%s: %s pid=%d stopped after draining %.1fs (status %s)", self.tier, inst.name,
                             inst.pid, now - inst.drain_since, code)
                    changed = True
        return changed

    def _next_name(self) -> str:
        used = {i.name for i in self.instances}
        while f"{self.tier}-{self._serial}" in used:
            self._serial += 1
        return f"{self.tier}-{self._serial}"

    def _victims(self, active: list[Instance], count: int) -> list[Instance]:
        # What serves nobody goes first (backing off, then starting), then the newest in service.
        order = {"backoff": 0, "starting": 1, "in_service": 2}
        return sorted(active, key=lambda i: (order.get(i.state, 3), -i.in_service_at))[:count]

    def describe_scaling(self) -> dict[str, Any]:
        p = self.policy
        return {"group": self.tier, "size": len([i for i in self.instances if i.state == "in_service"]),
                "desired": self.desired, "min": p.min_size, "max": p.max_size,
                "metric_name": p.metric, "target": p.target, "metric": round(self.scaler.window.mean(), 2),
                "backoff": [i.name for i in self.instances if i.state == "backoff"],
                "activities": list(self.activities)}

    def stop(self, timeout: float = 10.0) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        procs = [i.proc for i in self.instances]
        killed = stop(procs, timeout=timeout)
        for pid in killed:
            log.info("%s: pid=%d did not stop in %.0fs; killed", self.tier, pid, timeout)
        if procs:
            log.info("%s: stopped %d instance(s)", self.tier, len(procs))
