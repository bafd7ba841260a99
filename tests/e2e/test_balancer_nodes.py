"""No single load balancer: two Caddy nodes serve the store; one killed with SIGKILL is restarted and given
the config again, while the other serves (issue #12)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from .conftest import Stack

pytestmark = pytest.mark.e2e


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def node(state: dict[str, Any], name: str) -> dict[str, Any]:
    return next(n for n in state["balancers"] if n["name"] == name)


def url_on(stack: Stack, host: str) -> str:
    return stack.public_url.replace("127.0.0.1", host)


def targets(admin_url: str, listener_id: str) -> list[str]:
    response = httpx.get(f"{admin_url}/id/{listener_id}/upstreams", timeout=5)
    response.raise_for_status()
    return sorted(u["dial"] for u in response.json())


def test_the_store_answers_on_every_balancer_node(stack: Stack) -> None:
    nodes = stack.state()["balancers"]
    assert [(n["name"], n["host"]) for n in nodes] == [("lb-1", "127.0.0.1"), ("lb-2", "127.0.0.2")]
    for n in nodes:
        assert httpx.get(f"{url_on(stack, n['host'])}/", timeout=10).status_code == 200
    # Same targets on both, each node through its own admin API.
    assert targets(nodes[0]["admin_url"], "web_upstreams") == targets(nodes[1]["admin_url"], "web_upstreams")
    assert targets(nodes[0]["admin_url"], "app_upstreams") == targets(nodes[1]["admin_url"], "app_upstreams")


def test_a_killed_balancer_node_is_restarted_while_the_other_serves_every_request(stack: Stack) -> None:
    # lb-1 also carries the internal listener the web instances use first: killing it shows they move to lb-2's.
    before = node(stack.state(), "lb-1")
    other = url_on(stack, node(stack.state(), "lb-2")["host"])
    paths = ["/", "/search?q=a", "/healthz"]
    stop = threading.Event()
    results: list[tuple[str, int]] = []

    def shopper(n: int) -> None:
        with httpx.Client(timeout=15) as client:
            i = n
            while not stop.is_set():
                path = paths[i % len(paths)]
                results.append((path, client.get(f"{other}{path}").status_code))
                i += 1

    def restarted_node() -> bool:
        now = node(stack.state(), "lb-1")
        return bool(now["running"] and now["pid"] != before["pid"] and now["restarts"] == before["restarts"] + 1)

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(shopper, n) for n in range(4)]
        wait_for(lambda: len(results) >= 40)
        os.kill(before["pid"], signal.SIGKILL)
        served_at_kill = len(results)
        wait_for(restarted_node)
        # Load goes on after the restart too: the node's return must not disturb the other either.
        at_restart = len(results)
        wait_for(lambda: len(results) >= at_restart + 40)
        stop.set()
        for future in futures:
            future.result()
    assert len(results) > served_at_kill
    failed = [(path, status) for path, status in results if status != 200]
    assert failed == [], f"requests through the other node failed: {failed}"
    assert stack.proc is not None and stack.proc.poll() is None, "up stopped when a balancer node died"

    # The restarted node serves both listeners again, with the same targets as the other node.
    state = stack.state()
    first, second = node(state, "lb-1"), node(state, "lb-2")
    wait_for(lambda: httpx.get(f"{stack.public_url}/", timeout=10).status_code == 200)
    assert httpx.get(f"{stack.internal_url}/healthz", timeout=10).status_code == 200
    for listener_id in ("web_upstreams", "app_upstreams"):
        assert targets(first["admin_url"], listener_id) == targets(second["admin_url"], listener_id)
    log = (stack.var_dir / "up.err").read_text() + (stack.var_dir / "up.out").read_text()
    assert "caddy lb-1: restarted" in log


def test_status_names_each_balancer_node(stack: Stack) -> None:
    # Exit status aside (other rows may be settling after the kill above): the balancer rows.
    result = stack.lakefront("status", "--json", timeout=180)
    assert result.stdout, result.stderr
    rows = {row["id"]: row for row in json.loads(result.stdout)["components"]}
    for comp in ("alb", "internal_alb"):
        assert "lb-1 127.0.0.1" in rows[comp]["detail"] and "lb-2 127.0.0.2" in rows[comp]["detail"]
        assert rows[comp]["detail"].startswith("2/2 nodes") and rows[comp]["status"] == "ok"
