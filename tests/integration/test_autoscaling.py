"""Auto Scaling on real processes behind a real Caddy: scale-out on a load step, scale-in with draining
under load, crash-loop backoff, and replacement of an instance alive but failing its health checks."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import httpx

from lakefront.control.autoscale import Policy
from lakefront.control.lb import LoadBalancer
from lakefront.control.supervisor import MIN_DRAIN_S, InstanceGroup
from lakefront.servers.procs import pid_alive
from lakefront.settings import LoadBalancerSettings

# An upstream that answers with its port after ?sleep= seconds (and ?spin= seconds of CPU); /healthz fails
# while <dir>/sick-<port> exists, and it exits at once with status 3 while <dir>/crash exists.
UPSTREAM = """
import json, sys, time
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs
port, d = int(sys.argv[1]), Path(sys.argv[2])
if (d / "crash").exists():
    sys.exit(3)
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        url = urlparse(self.path)
        status = 500 if url.path == "/healthz" and (d / f"sick-{port}").exists() else 200
        time.sleep(float(parse_qs(url.query).get("sleep", ["0"])[0]))
        until = time.monotonic() + float(parse_qs(url.query).get("spin", ["0"])[0])
        while time.monotonic() < until:  # ?spin=: burn CPU for that long
            pass
        body = json.dumps({"port": port}).encode()
        self.send_response(status); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
"""


def wait_for(predicate, timeout: float = 30.0, group: InstanceGroup | None = None) -> None:  # type: ignore[no-untyped-def]
    """Tick `group` (as `up` does every 0.25 s) until `predicate` holds."""
    deadline = time.monotonic() + timeout
    while True:
        if group is not None:
            group.tick()
        if predicate():
            return
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def make_group(tmp_path: Path, size: int, policy: Policy, **kwargs: float) -> InstanceGroup:
    def argv(_name: str, port: int) -> list[str]:
        return [sys.executable, "-c", UPSTREAM, str(port), str(tmp_path)]

    group = InstanceGroup("web", size, argv, host="127.0.0.1", log_dir=tmp_path / "log", health_interval_s=0.2,
                          unhealthy_after=2)
    settings = {"deregistration_delay_s": 1.0, "restart_backoff_s": 0.5, "restart_backoff_max_s": 2.0,
                "stable_s": 5.0} | kwargs
    group.configure_scaling(policy, **settings)
    return group


def serve(group: InstanceGroup, balancer: LoadBalancer) -> None:
    group.start()
    balancer.open_listener("public", group.ports())
    group.on_targets = lambda ports: balancer.set_targets("public", ports)


class Load:
    """`clients` threads sending GETs through the public listener until stopped; counts every answer."""

    def __init__(self, url: str, clients: int) -> None:
        self.url, self.stopping = url, threading.Event()
        self.ok, self.failed, self.ports = 0, [], set()  # type: ignore[var-annotated]
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]
        for t in self.threads:
            t.start()

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.stopping.is_set():
                try:
                    r = client.get(self.url)
                    if r.status_code == 200:
                        self.ok += 1
                        self.ports.add(r.json()["port"])
                    else:
                        self.failed.append(r.status_code)
                except httpx.HTTPError as exc:
                    self.failed.append(repr(exc))

    def stop(self) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=15)


def test_scale_in_under_steady_load_drains_first_and_loses_no_request(
        balancer: LoadBalancer, lb_settings: LoadBalancerSettings, tmp_path: Path) -> None:
    group = make_group(tmp_path, 3, Policy(1, 3, 0.0, 1.0, 0.0, 0.0, 0.0))
    load = None
    try:
        serve(group, balancer)
        load = Load(f"http://127.0.0.1:{lb_settings.public_port}/?sleep=0.1", clients=6)
        wait_for(lambda: load.ok >= 30, group=group)
        removed = [i for i in group.instances][1:]
        assert group.set_desired(1, "test") == 1
        wait_for(lambda: len(group.instances) == 1, group=group)
        before = load.ok
        wait_for(lambda: load.ok >= before + 30, group=group)
    finally:
        if load is not None:
            load.stop()
        group.stop(timeout=5)
    assert load.failed == []
    assert not any(pid_alive(i.pid) for i in removed)
    assert balancer.targets("public") == [f"127.0.0.1:{group.instances[0].port}"]
    assert [(a["from"], a["to"]) for a in group.activities] == [(3, 1)]


def test_a_drain_stops_the_instance_once_the_balancer_shows_nothing_in_flight_on_it(
        balancer: LoadBalancer, tmp_path: Path) -> None:
    # A deregistration delay far longer than the test: only "nothing in flight" can end the drain.
    group = make_group(tmp_path, 2, Policy(1, 2, 0.0, 1.0, 0.0, 0.0, 0.0), deregistration_delay_s=600.0)
    flying = {"n": 1}
    group.in_flight = lambda _address: flying["n"]
    try:
        serve(group, balancer)
        victim = group.instances[1]
        group.hold = True  # as a deployment holds it: no replacement toward desired meanwhile
        group.drain([victim])
        assert balancer.targets("public") == [f"127.0.0.1:{group.instances[0].port}"]  # out of Caddy first
        wait_for(lambda: time.monotonic() - victim.drain_since > 2 * MIN_DRAIN_S, group=group)
        assert victim.state == "draining" and pid_alive(victim.pid)  # a request in flight: still running
        flying["n"] = 0
        wait_for(lambda: victim not in group.instances, group=group)
        assert not pid_alive(victim.pid)
        assert len(group.active()) == 1
    finally:
        group.stop(timeout=5)


def test_a_load_step_scales_out_and_the_new_instance_serves(
        balancer: LoadBalancer, lb_settings: LoadBalancerSettings, tmp_path: Path) -> None:
    # Target 1 request in flight per instance; 6 clients of 0.2 s requests keep about 6 in flight.
    group = make_group(tmp_path, 1, Policy(1, 3, 1.0, 0.5, 0.0, 60.0, 0.5))
    load = None
    try:
        serve(group, balancer)
        first = group.instances[0].port
        load = Load(f"http://127.0.0.1:{lb_settings.public_port}/?sleep=0.2", clients=6)

        def feed() -> bool:
            ups = {int(u["address"].rpartition(":")[2]): u["num_requests"] for u in balancer.upstream_status()}
            group.observe_load(ups)
            return group.desired == 3 and len(group.ports()) == 3 and len(load.ports) == 3

        wait_for(feed, group=group)
    finally:
        if load is not None:
            load.stop()
        group.stop(timeout=5)
    assert load.failed == []
    assert first in load.ports
    activity = group.activities[0]
    assert activity["from"] == 1 and activity["to"] > 1
    assert "per instance > target 1" in activity["cause"]


def test_with_the_cpu_metric_a_cpu_bound_load_scales_out_and_an_idle_group_does_not(
        balancer: LoadBalancer, lb_settings: LoadBalancerSettings, tmp_path: Path) -> None:
    # Target 25 % of a core per instance; clients whose requests burn CPU keep the one instance near 100 %.
    group = make_group(tmp_path, 1, Policy(1, 2, 25.0, 1.0, 0.0, 60.0, 0.0, metric="cpu"))
    load = None
    try:
        serve(group, balancer)
        idle_until = time.monotonic() + 2.0  # two windows of samples of an idle instance: no scaling
        wait_for(lambda: (group.observe_load({}), time.monotonic() > idle_until)[1], group=group)
        assert group.desired == 1 and not group.activities, group.activities

        load = Load(f"http://127.0.0.1:{lb_settings.public_port}/?spin=0.05", clients=3)

        def feed() -> bool:
            group.observe_load({})
            return group.desired == 2 and len(load.ports) == 2

        wait_for(feed, group=group)
    finally:
        if load is not None:
            load.stop()
        group.stop(timeout=5)
    assert load.failed == []
    activity = group.activities[0]
    assert (activity["from"], activity["to"]) == (1, 2)
    assert activity["cause"].startswith("CPU % ") and "per instance > target 25" in activity["cause"]


def test_a_crash_looping_instance_backs_off_exponentially_and_never_stops_the_group(
        balancer: LoadBalancer, tmp_path: Path) -> None:
    group = make_group(tmp_path, 1, Policy(1, 1, 0.0, 1.0, 0.0, 0.0, 0.0))
    try:
        serve(group, balancer)
        (tmp_path / "crash").touch()  # every start from now on exits at once
        group.instances[0].proc.kill()
        delays = []
        seen_pid = 0

        def backing_off() -> bool:
            nonlocal seen_pid
            inst = group.instances[0]
            if inst.state == "backoff" and inst.pid != seen_pid:
                seen_pid = inst.pid
                delays.append(inst.deadline - time.monotonic())
            return len(delays) >= 4

        wait_for(backing_off, group=group)
        assert group.describe_scaling()["backoff"] == ["web-1"]
        assert group.instances[0].crashes >= 5
        # 0.5, 1, 2, then the 2 s cap (each measured a little after it was set).
        assert delays[0] < delays[1] < delays[2] <= 2.0
        assert delays[3] > 1.5
        (tmp_path / "crash").unlink()
        wait_for(lambda: group.ports() != [], group=group)
        assert group.instances[0].crashes >= 5  # until it has stayed in service for stable_s
    finally:
        group.stop(timeout=5)
    log = (tmp_path / "log" / "web-1.log")
    assert log.exists()


def test_an_instance_alive_but_failing_health_checks_is_replaced(
        balancer: LoadBalancer, tmp_path: Path) -> None:
    group = make_group(tmp_path, 2, Policy(2, 2, 0.0, 1.0, 0.0, 0.0, 0.0))
    try:
        serve(group, balancer)
        sick = group.instances[0]
        (tmp_path / f"sick-{sick.port}").touch()
        wait_for(lambda: group.instances[0].pid != sick.pid and group.instances[0].state == "in_service",
                 group=group)
        assert not pid_alive(sick.pid)
        assert f"127.0.0.1:{sick.port}" not in balancer.targets("public")
        assert len(balancer.targets("public")) == 2
    finally:
        group.stop(timeout=5)
