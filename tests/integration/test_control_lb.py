"""Caddy as the load balancer and the supervisor's instance groups, against tiny real HTTP servers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from lakefront.control.lb import LoadBalancer
from lakefront.control.supervisor import InstanceGroup, healthz
from lakefront.servers.caddy import CaddyServer
from lakefront.servers.procs import free_port, pid_alive, spawn, stop
from lakefront.settings import LoadBalancerSettings

# An upstream that answers with its own port and the request id it received.
ECHO = """
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port = int(sys.argv[1])
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"port": port, "rid": self.headers.get("X-Request-Id")}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
"""


def echo_argv(_name: str, port: int) -> list[str]:
    return [sys.executable, "-c", ECHO, str(port)]


def wait_for(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


@pytest.fixture
def echoes(tmp_path: Path) -> Iterator[list[tuple[subprocess.Popen[bytes], int]]]:
    started = []
    for _ in range(3):
        port = free_port()
        started.append((spawn(echo_argv("", port), log_path=tmp_path / f"echo-{port}.log"), port))
    for _, port in started:
        wait_for(lambda port=port: healthz("127.0.0.1", port))
    yield started
    stop([p for p, _ in started])


def test_caddy_starts_with_only_its_admin_endpoint(caddy: CaddyServer, lb_settings: LoadBalancerSettings) -> None:
    assert httpx.get(f"{caddy.admin_url}/config/").json() == {
        "admin": {"listen": f"127.0.0.1:{lb_settings.admin_port}", "origins": [f"127.0.0.1:{lb_settings.admin_port}"],
                  "config": {"persist": False}}}


def test_public_listener_routes_to_registered_upstreams_and_assigns_request_ids(
        balancer: LoadBalancer, echoes: list, lb_settings: LoadBalancerSettings, tmp_path: Path) -> None:
    ports = [port for _, port in echoes]
    balancer.open_listener("public", ports[:1])
    url = f"http://127.0.0.1:{lb_settings.public_port}/x"
    first = httpx.get(url).json()
    assert first["port"] == ports[0]
    assert len(first["rid"]) == 36  # a UUID, assigned by the balancer

    balancer.set_targets("public", ports[1:])
    assert balancer.targets("public") == [f"127.0.0.1:{p}" for p in ports[1:]]
    seen = {httpx.get(url).json()["port"] for _ in range(30)}
    assert seen <= set(ports[1:])
    assert seen  # and never the deregistered one

    access = [json.loads(line) for line in (tmp_path / "access.log").read_text().splitlines()]
    assert {a["upstream"] for a in access} >= {f"127.0.0.1:{p}" for p in seen}


def test_internal_listener_passes_the_callers_request_id_through(
        balancer: LoadBalancer, echoes: list, lb_settings: LoadBalancerSettings) -> None:
    balancer.open_listener("internal", [echoes[0][1]])
    balancer.open_listener("public", [echoes[1][1]])
    got = httpx.get(f"http://127.0.0.1:{lb_settings.internal_port}/", headers={"X-Request-Id": "abc-123"})
    assert got.json()["rid"] == "abc-123"


def test_killing_an_upstream_under_load_fails_no_request(
        balancer: LoadBalancer, echoes: list, lb_settings: LoadBalancerSettings) -> None:
    balancer.open_listener("public", [port for _, port in echoes[:2]])
    url = f"http://127.0.0.1:{lb_settings.public_port}/"
    victim = echoes[0][0]

    dropped: list[int] = []

    def hit(i: int) -> int:
        if i == 60:
            victim.send_signal(signal.SIGKILL)
        with httpx.Client() as client:
            try:
                return client.get(url, timeout=10).status_code
            except httpx.TransportError:
                # Killed after the balancer had passed its response headers on: nothing can be retried
                # by the balancer then; a browser retries such a GET once, and so do we.
                dropped.append(i)
                return client.get(url, timeout=10).status_code

    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(hit, range(300)))
    assert victim.poll() is not None
    assert codes == [200] * 300  # never an error status: the balancer retried everything it could
    assert len(dropped) <= 2, dropped  # only requests in flight on the victim at the kill


def test_supervisor_replaces_a_killed_instance_and_registers_the_replacement(
        balancer: LoadBalancer, lb_settings: LoadBalancerSettings, tmp_path: Path) -> None:
    group = InstanceGroup("web", 2, echo_argv, host="127.0.0.1", log_dir=tmp_path / "log",
                          health_interval_s=0.2)
    try:
        group.start()
        balancer.open_listener("public", group.ports())
        group.on_targets = lambda ports: balancer.set_targets("public", ports)
        victim = group.instances[0]
        os.kill(victim.pid, signal.SIGKILL)

        def replaced() -> bool:
            group.tick()
            return group.instances[0].pid != victim.pid and group.instances[0].state == "in_service"

        wait_for(replaced)
        new = group.instances[0]
        assert (new.name, new.restarts) == ("web-1", 1)
        assert new.port != victim.port
        assert f"127.0.0.1:{new.port}" in balancer.targets("public")
        assert f"127.0.0.1:{victim.port}" not in balancer.targets("public")
        url = f"http://127.0.0.1:{lb_settings.public_port}/"
        wait_for(lambda: httpx.get(url).json()["port"] == new.port)
    finally:
        group.stop(timeout=5)
    assert not any(pid_alive(i.pid) for i in group.instances)


def test_children_die_with_their_parent_even_when_it_is_killed(tmp_path: Path) -> None:
    script = (
        "import sys, time; from pathlib import Path; from lakefront.servers.procs import spawn\n"
        "p = spawn([sys.executable, '-c', 'import time; time.sleep(60)'],\n"
        f"          log_path=Path({str(tmp_path)!r}) / 'c.log')\n"
        "print(p.pid, flush=True); time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert pid_alive(child)
    assert os.getpgid(child) == child  # its own process group
    parent.kill()
    parent.wait()
    parent.stdout.close()
    wait_for(lambda: not pid_alive(child))


def test_a_zombie_counts_as_gone(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    wait_for(lambda: Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z")
    assert not pid_alive(proc.pid)
    proc.wait()
