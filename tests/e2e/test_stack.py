"""The control plane end to end: `lakefront up`, instances killed under load, `status`, `down`."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from lakefront.servers.procs import pid_alive, port_open

from .conftest import Stack, start_stack

pytestmark = pytest.mark.e2e


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def instance(state: dict[str, Any], name: str) -> dict[str, Any]:
    return next(i for i in state["instances"] if i["name"] == name)


def upstreams_served(var_dir: Path) -> set[str]:
    lines = (var_dir / "log" / "caddy-access.log").read_text().splitlines()
    return {json.loads(line).get("upstream", "") for line in lines if line.strip()}


def test_killed_instances_are_replaced_with_no_failed_request(stack: Stack) -> None:
    before = stack.state()
    web, app = instance(before, "web-1"), instance(before, "app-1")
    paths = ["/", "/search?q=a", "/healthz"]
    killed = threading.Event()
    retried: list[int] = []

    def hit(i: int) -> tuple[str, int]:
        if i == 100:
            os.kill(web["pid"], signal.SIGKILL)
            os.kill(app["pid"], signal.SIGKILL)
            killed.set()
        path = paths[i % len(paths)]
        time.sleep(0.02)
        with httpx.Client(timeout=15) as client:
            try:
                return path, client.get(f"{stack.public_url}{path}").status_code
            except httpx.TransportError:
                # A dropped connection (not an HTTP error) is retried once, as a browser retries a GET:
                # a request in flight on an instance killed mid-response, or caught by Caddy's config
                # reload at registration, can lose its connection. An error status is never retried.
                retried.append(i)
                return path, client.get(f"{stack.public_url}{path}").status_code

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(hit, range(400)))
    assert killed.is_set()
    assert [r for r in results if r[1] != 200] == []
    assert len(retried) <= 4, f"{len(retried)} of {len(results)} requests lost their connection"

    def replaced(name: str, old_pid: int) -> bool:
        now = instance(stack.state(), name)
        return now["pid"] != old_pid and now["state"] == "in_service"

    wait_for(lambda: replaced("web-1", web["pid"]) and replaced("app-1", app["pid"]))
    after = stack.state()
    for name, old in (("web-1", web), ("app-1", app)):
        new = instance(after, name)
        assert new["restarts"] == old["restarts"] + 1
        assert not pid_alive(old["pid"])
        address = f"127.0.0.1:{new['port']}"
        upstream_id = "web_upstreams" if name.startswith("web") else "app_upstreams"
        registered = httpx.get(f"{stack.admin_url}/id/{upstream_id}/upstreams").json()
        assert {"dial": address} in registered
        assert {"dial": f"127.0.0.1:{old['port']}"} not in registered
        assert httpx.get(f"http://{address}/healthz").status_code == 200

    # Each replacement takes traffic again: the balancer's access log names it as an upstream.
    new_addresses = {f"127.0.0.1:{instance(after, n)['port']}" for n in ("web-1", "app-1")}

    def served_by_replacements() -> bool:
        httpx.get(f"{stack.public_url}/", timeout=15).raise_for_status()
        return new_addresses <= upstreams_served(stack.var_dir)

    wait_for(served_by_replacements, timeout=30)


def test_status_reports_every_running_component_healthy(stack: Stack) -> None:
    wait_for(lambda: stack.lakefront("status", "--json").returncode == 0, timeout=30)
    result = stack.lakefront("status", "--json")
    report = json.loads(result.stdout)
    assert report["running"] and report["healthy"]
    by_id = {c["id"]: c for c in report["components"]}
    for cid in ("alb", "web", "internal_alb", "app", "database", "cache", "object_store"):
        assert by_id[cid]["status"] == "ok", by_id[cid]
    if stack.profile == "services":
        standby = by_id["standby"]
        assert standby["status"] == "ok", standby
        assert "replicating from db-1: IO Yes, SQL Yes" in standby["detail"], standby
        assert report["database"]["primary"] == "db-1" and report["database"]["readers"] == ["db-2"]
    else:
        # What the profile lacks says so, with what it has instead (README: the diagram's dotted boxes).
        for cid in ("standby", "nlb", "route53"):
            assert by_id[cid]["status"] == "absent" and by_id[cid]["detail"], by_id[cid]
        assert "one SQLite file" in by_id["standby"]["detail"]
        refused = stack.lakefront("failover")
        assert refused.returncode != 0 and "no standby" in refused.stderr and "Traceback" not in refused.stderr
    assert int(by_id["database"]["detail"].split()[0]) > 0  # demo products were loaded
    # The demo images went to the images bucket, and the lake's bucket and the backups' are there too.
    assert re.search(r"^images [1-9]\d* objects, .*; lake \d+ objects, .*; backups \d+ objects",
                     by_id["object_store"]["detail"]), by_id["object_store"]
    names = {i["name"] for cid in ("web", "app") for i in by_id[cid]["instances"]}
    assert names == {"web-1", "web-2", "app-1", "app-2"}
    assert report["profile"] == stack.profile
    servers = {s["name"] for s in report["servers"]}
    assert servers == ({"mariadb db-1 (primary)", "mariadb db-2 (standby)", "redis", "seaweedfs",
                        "powerdns shop.lakefront.test", "haproxy nlb"} if stack.profile == "services" else set())
    if stack.profile == "services":  # the writer endpoint (NLB role) points at the primary; the zone answers
        assert by_id["nlb"]["status"] == "ok" and "-> db-1 " in by_id["nlb"]["detail"], by_id["nlb"]
        assert by_id["route53"]["status"] == "ok" and "shop.lakefront.test" in by_id["route53"]["detail"]
    if stack.profile == "services":
        assert "redis" in by_id["cache"]["detail"] and "mysql" in by_id["database"]["detail"]
    table = stack.lakefront("status")
    assert table.returncode == 0
    assert "web-2" in table.stdout


def test_a_second_up_is_refused_while_one_runs(stack: Stack) -> None:
    result = stack.lakefront("up", "--no-seed")
    assert result.returncode == 2
    assert "already running" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_down_stops_every_process_of_the_stack(tmp_path: Path) -> None:
    own = start_stack(tmp_path / "var", "--web", "1", "--app", "1", "--no-seed")
    try:
        state = own.state()
        pids = [state["pid"], state["caddy"]["pid"], *(i["pid"] for i in state["instances"])]
        assert len(state["instances"]) == 2
        result = own.lakefront("down")
        assert result.returncode == 0
        assert "stopped" in result.stdout
        assert own.proc is not None
        assert own.proc.wait(timeout=30) == 0
        wait_for(lambda: not any(pid_alive(pid) for pid in pids), timeout=15)
        assert not port_open("127.0.0.1", int(own.env["LAKEFRONT_LB__ADMIN_PORT"]))
        assert not own.state_file.exists()
        assert own.lakefront("status").returncode == 1
        again = own.lakefront("down")
        assert again.returncode == 0 and "not running" in again.stdout
    finally:
        own.stop()
