"""Faults for `lakefront load --chaos`: SIGKILL one part of the running system on a schedule.

A target is anything with a name and `inject(state) -> what it did`, where `state` is the run state
`lakefront up` writes (var/run/state.json), read afresh at each fault because pids change as the
supervisor replaces what was killed. A target that has nothing to kill in this profile raises
`NotApplicable` with the reason, and the report lists it as skipped.

Today's targets: a web instance, an app instance, the cache server and the primary database
(services profile), and the first balancer node (one Caddy of several: the others serve while `up`
restarts it, control/balancers.py).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

ORDER = ("web", "app", "cache", "database", "balancer")
"""The default schedule's order: the instances first, the data tier next, the balancer last."""


class NotApplicable(Exception):
    """This target has nothing to kill in the running system; the message says why."""


class Target(Protocol):
    name: str

    def inject(self, state: dict[str, Any]) -> str: ...


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


@dataclass
class InstanceTarget:
    """One in-service instance of a tier, chosen in turn (web-1, then web-2, ...)."""

    name: str
    kill: Callable[[int], None] = _kill
    _turn: int = 0

    def inject(self, state: dict[str, Any]) -> str:
        serving = sorted((i for i in state.get("instances", []) if i["tier"] == self.name
                          and i.get("state") == "in_service"), key=lambda i: i["name"])
        if not serving:
            raise NotApplicable(f"no {self.name} instance in service")
        victim = serving[self._turn % len(serving)]
        self._turn += 1
        self.kill(int(victim["pid"]))
        return f"SIGKILL {victim['name']} pid {victim['pid']}"


@dataclass
class ServerTarget:
    """A data-tier server `up` runs (services profile), by its topology component."""

    name: str
    component: str
    why_not: str
    """Why there is nothing to kill when `up` runs no server for the component."""
    kill: Callable[[int], None] = _kill

    def inject(self, state: dict[str, Any]) -> str:
        for server in state.get("servers", []):
            if server.get("component") == self.component and server.get("pid"):
                self.kill(int(server["pid"]))
                return f"SIGKILL {server['name']} pid {server['pid']}"
        raise NotApplicable(self.why_not)


@dataclass
class BalancerTarget:
    """The first balancer node (lb-1): a Caddy serving both listeners, beside the other nodes."""

    name: str = "balancer"
    kill: Callable[[int], None] = _kill

    def inject(self, state: dict[str, Any]) -> str:
        nodes = [n for n in state.get("balancers") or [] if n.get("pid")]
        if not nodes:
            pid = (state.get("caddy") or {}).get("pid")
            if not pid:
                raise NotApplicable("no balancer running")
            nodes = [{"name": "lb-1", "pid": pid}]
        node = nodes[0]
        self.kill(int(node["pid"]))
        others = len(nodes) - 1
        return (f"SIGKILL caddy {node['name']} pid {node['pid']} ({others} other node(s) serve; "
                "`up` restarts it)")


def targets(kill: Callable[[int], None] = _kill) -> dict[str, Target]:
    return {
        "web": InstanceTarget("web", kill),
        "app": InstanceTarget("app", kill),
        "cache": ServerTarget("cache", "cache", "no cache server in this profile (embedded: a file the "
                              "instances share; services with cache.redis_url: not ours to kill)", kill),
        "database": ServerTarget("database", "database", "no database server in this profile (embedded: "
                                 "SQLite, a file in each process)", kill),
        "balancer": BalancerTarget(kill=kill),
    }


@dataclass(frozen=True)
class Fault:
    at_s: float
    """Seconds after the start of the run."""
    target: str


def schedule(names: list[str], duration_s: float, warmup_s: float | None = None) -> list[Fault]:
    """Faults spread evenly over the run after a warm-up, the last leaving a fifth of the run to recover."""
    if not names:
        return []
    begin = warmup_s if warmup_s is not None else min(10.0, duration_s * 0.15)
    end = duration_s * 0.8
    step = (end - begin) / max(1, len(names) - 1) if len(names) > 1 else 0.0
    return [Fault(round(begin + i * step, 1), name) for i, name in enumerate(names)]


def parse_targets(text: str, known: dict[str, Target]) -> list[str]:
    """`web,app,balancer` -> names, in the given order; 'all' -> every target in ORDER."""
    if text.strip() in ("", "all"):
        return list(ORDER)
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown chaos target {unknown[0]!r}; choose from {', '.join(known)}")
    return names
