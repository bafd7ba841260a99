"""The load balancer's nodes: one Caddy per address, each with the same listeners and targets (the ALB's
nodes across availability zones).

Every node serves the public listener (the ALB role) and the internal one (the internal ALB) on the same
ports, each on its own loopback address, and is configured the same way through its own admin API. A node
that dies is started again and given the config the others have; until then the others serve. Clients
reach the nodes by name through the DNS server (control/dns.py), or by address; web instances move to the
next node's internal listener when one refuses them (web/client.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakefront.control.lb import LoadBalancer, LoadBalancerError
from lakefront.control.static_site import StaticSite
from lakefront.servers.caddy import CaddyError, CaddyServer
from lakefront.settings import LoadBalancerSettings

log = logging.getLogger("lakefront.control")

RETRY_S = (1.0, 2.0, 5.0, 10.0)
"""Waits between attempts to restart a node that will not start, the last repeated."""


@dataclass
class Node:
    name: str
    host: str
    server: CaddyServer
    lb: LoadBalancer | None = None
    restarts: int = 0
    failures: int = 0
    """Failed restarts in a row; the next attempt waits RETRY_S[failures]."""
    retry_at: float = 0.0
    last_exit: int | None = None

    @property
    def running(self) -> bool:
        return self.server.running and self.lb is not None

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "host": self.host, "pid": self.server.pid if self.server.running else None,
                "admin_url": self.server.admin_url, "restarts": self.restarts, "running": self.running,
                "last_exit": self.last_exit}


@dataclass
class Balancers:
    """The balancer nodes of one system: start them, open listeners on all, keep their targets the same."""

    settings: LoadBalancerSettings
    access_log: Path
    make_server: Callable[[str, str], CaddyServer]
    """(node name, address) -> the node's Caddy, not started."""
    log_dir: Path
    nodes: list[Node] = field(default_factory=list)
    _listeners: dict[str, tuple[Callable[[], list[int]], StaticSite | None]] = field(default_factory=dict)
    """Listener -> (today's targets, static site): what a restarted node must be given."""

    def start(self) -> None:
        """Start every node with only its admin API; listeners come with open_listener()."""
        for index, host in enumerate(self.settings.nodes, start=1):
            name = f"lb-{index}"
            node = Node(name, host, self.make_server(name, host))
            self._start(node)
            self.nodes.append(node)

    def _log_path(self, node: Node) -> Path:
        return self.log_dir / ("caddy.log" if node.name == "lb-1" else f"caddy-{node.name}.log")

    def _start(self, node: Node) -> None:
        node.server.start_ready(self._log_path(node))
        node.lb = LoadBalancer(self.settings.model_copy(update={"host": node.host}), self.access_log,
                               upstream_host=self.settings.host)
        log.info("caddy %s: started pid=%s admin=%s", node.name, node.server.pid, node.server.admin_url)

    def open_listener(self, name: str, targets: Callable[[], list[int]], static: StaticSite | None = None) -> None:
        """Open `name` on every node with `targets()` as its instance ports."""
        self._listeners[name] = (targets, static)
        for node in self.nodes:
            assert node.lb is not None
            node.lb.open_listener(name, targets(), static)

    def set_targets(self, name: str, ports: list[int]) -> None:
        """Register `ports` on every running node. A node that is down is skipped: it gets today's targets
        when it is restarted. A running node that refuses raises."""
        for node in self.nodes:
            if node.lb is None or not node.server.running:
                continue
            try:
                node.lb.set_targets(name, ports)
            except LoadBalancerError:
                if node.server.running:
                    raise
                log.info("caddy %s: died while registering targets; its restart applies them", node.name)

    def tick(self) -> bool:
        """Restart every node that died, once its retry time has come; True when a node changed."""
        changed = False
        for node in self.nodes:
            proc = node.server.proc
            if proc is not None and proc.poll() is None:
                continue
            if node.lb is not None:  # just died
                node.last_exit = proc.returncode if proc is not None else None
                log.warning("caddy %s: pid=%s exited with status %s; %d other node(s) serve; restarting it",
                            node.name, proc.pid if proc else None, node.last_exit,
                            sum(1 for n in self.nodes if n is not node and n.running))
                node.lb.close()
                node.lb = None
                node.server.proc = None
                changed = True
            if time.monotonic() < node.retry_at:
                continue
            changed |= self._restart(node)
        return changed

    def _restart(self, node: Node) -> bool:
        try:
            self._start(node)
            assert node.lb is not None
            for name, (targets, static) in self._listeners.items():
                node.lb.open_listener(name, targets(), static)
        except (CaddyError, LoadBalancerError) as exc:
            wait = RETRY_S[min(node.failures, len(RETRY_S) - 1)]
            node.failures += 1
            node.retry_at = time.monotonic() + wait
            log.error("caddy %s: restart failed (%s); trying again in %.0fs", node.name, str(exc).splitlines()[0],
                      wait)
            if node.lb is not None:
                node.lb.close()
                node.lb = None
            node.server.stop()
            return True
        node.restarts += 1
        node.failures = 0
        log.info("caddy %s: restarted pid=%s serving %s", node.name, node.server.pid, ", ".join(self._listeners))
        return True

    def upstream_status(self) -> list[dict[str, Any]]:
        """Each upstream's requests in flight and fails, summed over the running nodes (each node balances
        its own share of the clients). Raises LoadBalancerError when no node answers."""
        merged: dict[str, dict[str, Any]] = {}
        answered = False
        for node in self.nodes:
            if node.lb is None or not node.server.running:
                continue
            try:
                status = node.lb.upstream_status()
            except LoadBalancerError:
                continue
            answered = True
            for up in status:
                row = merged.setdefault(str(up.get("address", "")), {"address": up.get("address"),
                                                                     "num_requests": 0, "fails": 0})
                row["num_requests"] += int(up.get("num_requests", 0))
                row["fails"] += int(up.get("fails", 0))
        if not answered:
            raise LoadBalancerError("no balancer node answered its admin API")
        return list(merged.values())

    @property
    def first(self) -> Node:
        return self.nodes[0]

    def describe(self) -> list[dict[str, Any]]:
        return [node.describe() for node in self.nodes]

    def stop(self) -> None:
        for node in self.nodes:
            if node.lb is not None:
                node.lb.close()
                node.lb = None
            pid = node.server.pid
            node.server.stop()
            log.info("caddy %s: stopped pid=%s", node.name, pid)
