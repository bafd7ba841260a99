"""Rolling deployments: the Elastic Beanstalk role. Roll an application version (control/versions.py)
onto the running app and web groups in batches, while they serve, and roll back on a failed health check.

A deployment is a list of steps, driven by `tick()` once per supervision step (control/up.py), like
the groups: nothing here blocks. The steps are three:

- launch: start instances of a version (the group's own tick health-checks them and registers each
  with the balancer once /healthz answers 200 through its port);
- await: wait until they are all in service; one that exits, is replaced, or is not healthy within
  the health timeout fails the deployment;
- retire: take instances out of the balancer in one update, wait until the balancer has no request
  in flight on them (and at least a moment, for requests it picked them for just before the change),
  SIGTERM them (the server finishes what it still holds), SIGKILL after a grace, forget them.

The policies only order those steps, per batch of `batch` instances:
- rolling: retire a batch of old instances, launch as many new ones in their place, await them
  (capacity drops by a batch; refused when a batch is the whole group);
- rolling-with-additional-batch: launch a batch of new ones, await, then retire as many old ones
  (capacity never drops);
- immutable: launch a whole new group, await it, retire the whole old group.

A failure replaces the remaining steps with a rollback of every tier touched so far: retire the new
instances nobody registered, launch old-version instances until the group is whole again, await,
retire the new ones still serving.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from lakefront.control.supervisor import LEAVING, Instance, InstanceGroup, now_iso
from lakefront.control.versions import VersionStore

log = logging.getLogger("lakefront.control")

POLICIES = ("rolling", "rolling-with-additional-batch", "immutable")


class DeployRefused(ValueError):
    """The request cannot run as asked; one line."""


@dataclass
class Step:
    kind: Literal["launch", "await", "retire"]
    tier: str
    label: str
    """What the user sees while it runs: "app batch 1/2"."""
    version: str = ""
    count: int = 0
    names: list[str] = field(default_factory=list)
    """launch: the names to reuse (rolling), else fresh ones; filled with what was launched, for await."""
    select: Callable[[InstanceGroup], list[Instance]] | None = None
    """retire: which instances, chosen when the step starts."""
    started: float = 0.0
    retiring: list[Instance] = field(default_factory=list)
    """retire: the instances the group is draining for this step."""


@dataclass
class Request:
    id: str
    version: str
    policy: str
    batch: int
    tiers: list[str]
    health_timeout_s: float = 30.0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Request:
        return cls(id=str(data["id"]), version=str(data["version"]), policy=str(data["policy"]),
                   batch=int(data["batch"]), tiers=[str(t) for t in data["tiers"]],
                   health_timeout_s=float(data.get("health_timeout_s", 30.0)))


def _by_names(names: list[str]) -> Callable[[InstanceGroup], list[Instance]]:
    return lambda g: [i for i in g.instances if i.name in names]


def _of_version(version: str, *, registered: bool | None = None) -> Callable[[InstanceGroup], list[Instance]]:
    def select(g: InstanceGroup) -> list[Instance]:
        return [i for i in g.instances if i.version == version and i.state not in LEAVING
                and (registered is None or (i.state == "in_service") == registered)]
    return select


def plan(request: Request, groups: dict[str, InstanceGroup]) -> list[Step]:
    """The steps of a deployment, tier after tier (app first: the web tier may need the new API)."""
    if request.policy not in POLICIES:
        raise DeployRefused(f"unknown policy {request.policy!r}; one of {', '.join(POLICIES)}")
    if request.batch < 1:
        raise DeployRefused("--batch must be at least 1")
    steps: list[Step] = []
    for tier in sorted(request.tiers, key=lambda t: (t != "app", t)):
        group = groups.get(tier)
        if group is None:
            raise DeployRefused(f"the running system has no {tier} group")
        old = [i.name for i in group.instances if i.state not in LEAVING]
        if request.policy == "rolling" and request.batch >= len(old):
            raise DeployRefused(f"rolling with --batch {request.batch} takes all {len(old)} {tier} instance(s) out "
                                "of service at once; use a smaller batch, rolling-with-additional-batch or immutable")
        size = len(old) if request.policy == "immutable" else request.batch
        batches = [old[k:k + size] for k in range(0, len(old), size)]
        for k, names in enumerate(batches, 1):
            label = f"{tier} batch {k}/{len(batches)}"
            launch = Step("launch", tier, label, request.version, len(names),
                          list(names) if request.policy == "rolling" else [])
            await_ = Step("await", tier, label, request.version, names=launch.names)
            retire = Step("retire", tier, label, select=_by_names(names))
            steps += [retire, launch, await_] if request.policy == "rolling" else [launch, await_, retire]
    return steps


class Deployment:
    """One deployment in progress inside `up`; `describe()` is what `lakefront deploy` shows."""

    def __init__(self, request: Request, groups: dict[str, InstanceGroup], store: VersionStore) -> None:
        self.request = request
        self.groups = groups
        self.store = store
        self.previous = {t: groups[t].version for t in request.tiers if t in groups}
        self.steps = plan(request, groups)
        self.total = len(self.steps)
        self.status: Literal["deploying", "rolling back", "deployed", "rolled back", "failed"] = "deploying"
        self.reason = ""
        self.message = f"deploying {request.version} ({request.policy}, batch {request.batch}) to " \
                       f"{', '.join(request.tiers)}"
        self.started_at = now_iso()
        self.finished_at = ""
        self._t0 = time.monotonic()
        self.duration_s = 0.0
        self.touched: list[str] = []
        store.update(request.version, status="deploying", reason="")
        log.info("deploy %s: %s", request.id, self.message)

    @property
    def done(self) -> bool:
        return self.status in ("deployed", "rolled back", "failed")

    def describe(self) -> dict[str, Any]:
        return {"id": self.request.id, "version": self.request.version, "policy": self.request.policy,
                "batch": self.request.batch, "tiers": self.request.tiers, "previous": self.previous,
                "status": self.status, "reason": self.reason, "message": self.message,
                "started_at": self.started_at, "finished_at": self.finished_at,
                "duration_s": round(self.duration_s or time.monotonic() - self._t0, 2),
                "healthy": {t: sum(1 for i in g.instances if i.state == "in_service")
                            for t, g in self.groups.items()},
                "versions": {t: sorted({i.version for i in g.instances if i.state not in LEAVING})
                             for t, g in self.groups.items()}}

    def _say(self, message: str) -> None:
        if message != self.message:
            self.message = message
            log.info("deploy %s: %s", self.request.id, message)

    # Driving ---------------------------------------------------------------------------------------

    def tick(self) -> bool:
        """One step of the state machine. Returns True when something changed (save the run state)."""
        if self.done:
            return False
        changed = False
        while self.steps:
            step = self.steps[0]
            if step.tier not in self.touched:
                self.touched.append(step.tier)
            result = getattr(self, f"_{step.kind}")(step)
            if result is None:
                return changed  # still running
            changed = True
            if result:
                self.steps.pop(0)
                continue
            return True  # failed: the steps are now the rollback's
        self._finish()
        return True

    def _finish(self) -> None:
        self.duration_s = time.monotonic() - self._t0
        self.finished_at = now_iso()
        version = self.request.version
        if self.status == "deploying":
            self.status = "deployed"
            for tier in self.request.tiers:
                group = self.groups[tier]
                group.version, group.version_env = version, self.store.env(version)
                self.store.set_running(tier, version)
            self.store.update(version, status="deployed", deployed_at=self.finished_at)
            self._say(f"deployed {version} to {', '.join(self.request.tiers)} in {self.duration_s:.1f}s")
        elif self.status == "rolling back":
            self.status = "rolled back"
            self.store.update(version, status="rolled-back", reason=self.reason)
            self._say(f"rolled back: {self.reason}")
        else:
            self.store.update(version, status="failed", reason=self.reason)

    def _fail(self, reason: str) -> bool:
        if self.status == "rolling back":
            self.status, self.reason = "failed", f"{self.reason}; rollback failed: {reason}"
            self.steps = []
            self._finish()
            self._say(f"failed: {self.reason}")
            return False
        self.status, self.reason = "rolling back", reason
        self._say(f"rolling back: {reason}")
        self.steps = []
        for tier in reversed(self.touched):
            self.steps += self._rollback_steps(tier)
        return False

    def _rollback_steps(self, tier: str) -> list[Step]:
        group, old, new = self.groups[tier], self.previous[tier], self.request.version
        label = f"{tier} rollback to {old}"
        alive_old = len(_of_version(old)(group))
        launch = Step("launch", tier, label, old, max(0, group.desired - alive_old))
        return [Step("retire", tier, label, select=_of_version(new, registered=False)),
                launch, Step("await", tier, label, old, names=launch.names),
                Step("retire", tier, label, select=_of_version(new))]

    # Steps: each returns None while running, True when done, False after failing ------------------

    def _launch(self, step: Step) -> bool:
        group = self.groups[step.tier]
        taken = {i.name for i in group.instances}
        names = list(step.names) or []
        index = 1
        while len(names) < step.count:
            name = f"{step.tier}-{index}"
            if name not in taken and name not in names:
                names.append(name)
            index += 1
        step.names[:] = names
        if not names:
            return True
        env = self.store.env(step.version)
        for name in names:
            group.launch(name, step.version, env)
        self._say(f"{step.label}: started {', '.join(names) or 'nothing'} ({step.version})")
        return True

    def _await(self, step: Step) -> bool | None:
        group = self.groups[step.tier]
        if not step.names:
            return True
        if not step.started:
            step.started = time.monotonic()
        mine = [i for i in group.instances if i.name in step.names and i.version == step.version]
        for inst in mine:
            if inst.restarts or inst.proc.poll() is not None:
                return self._fail(f"{inst.name} ({step.version}) exited during its health check; "
                                  f"see {group.log_dir / (inst.name + '.log')}")
        ready = [i for i in mine if i.state == "in_service"]
        self._say(f"{step.label}: {len(ready)}/{len(step.names)} healthy ({step.version})")
        if len(ready) == len(step.names):
            return True
        if time.monotonic() - step.started > self.request.health_timeout_s:
            waiting = ", ".join(i.name for i in mine if i.state != "in_service")
            return self._fail(f"{waiting} ({step.version}) failed its health check (/healthz not 200 within "
                              f"{self.request.health_timeout_s:.0f}s)")
        return None

    def _retire(self, step: Step) -> bool | None:
        """Drain the chosen instances as a scale-in does (InstanceGroup.drain); done when the group has
        forgotten them all."""
        group = self.groups[step.tier]
        if not step.started:
            step.started = time.monotonic()
            step.retiring = step.select(group) if step.select else []
            if step.retiring:
                group.drain(step.retiring)  # one balancer update for the whole batch
                self._say(f"{step.label}: draining {', '.join(i.name for i in step.retiring)}")
        step.retiring = [i for i in step.retiring if i in group.instances]
        return None if step.retiring else True
