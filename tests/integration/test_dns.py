"""The Route 53 role: PowerDNS answers the store's name with the balancer nodes that pass their health
check; a node that dies leaves the answer within TTL + check interval, and clients that resolve again
reach the store. Real PowerDNS, real HTTP nodes on 127.0.0.1 and 127.0.0.2, dnspython as the resolver."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.resolver
import httpx
import pytest

from lakefront.servers.powerdns import PowerDNSServer, pdns_binary
from lakefront.servers.procs import free_port, port_open, spawn, stop

NAME = "shop.lakefront.test"
NODES = ["127.0.0.1", "127.0.0.2"]

# A balancer node stand-in: answers /healthz (and /) with 200 and its own address.
NODE = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
host, port = sys.argv[1], int(sys.argv[2])
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = host.encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
ThreadingHTTPServer((host, port), H).serve_forever()
"""

try:
    pdns_binary()
except Exception as exc:  # pragma: no cover - a machine without the package
    pytestmark = pytest.mark.skip(reason=str(exc))


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, "condition not reached in time"
        time.sleep(0.1)
    return time.monotonic() - started


@pytest.fixture
def node_port() -> int:
    port = free_port()
    while any(port_open(host, port, 0.2) for host in NODES):
        port = free_port()
    return port


@pytest.fixture
def nodes(tmp_path: Path, node_port: int) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    procs = {host: spawn([sys.executable, "-c", NODE, host, str(node_port)], log_path=tmp_path / f"{host}.log")
             for host in NODES}
    for host in NODES:
        wait_for(lambda host=host: port_open(host, node_port, 0.2))
    yield procs
    stop(list(procs.values()))


def start_dns(tmp_path: Path, node_port: int, **options: object) -> PowerDNSServer:
    server = PowerDNSServer(tmp_path / "pdns", free_port(), NAME, NODES, node_port, ttl_s=1, check_interval_s=1,
                            **options)  # type: ignore[arg-type]
    server.start_ready(tmp_path / "pdns.log")
    return server


def resolve(server: PowerDNSServer) -> list[str]:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port, resolver.lifetime = [server.host], server.port, 2.0
    return sorted(r.address for r in resolver.resolve(NAME, "A"))


def test_failover_answers_the_primary_then_the_secondary_when_the_primary_dies(
        tmp_path: Path, nodes: dict[str, subprocess.Popen[bytes]], node_port: int) -> None:
    server = start_dns(tmp_path, node_port, policy="failover")
    try:
        # The first answer comes before any check has run; then the healthy primary alone.
        wait_for(lambda: resolve(server) == ["127.0.0.1"])
        stop([nodes["127.0.0.1"]])
        waited = wait_for(lambda: resolve(server) == ["127.0.0.2"])
        assert waited < 1 + 1 + 5  # ttl + check interval, with room for a loaded machine
        # A client that resolves again reaches a node that serves.
        address = resolve(server)[0]
        assert httpx.get(f"http://{address}:{node_port}/", timeout=5).text == address
        soa = dns.resolver.Resolver(configure=False)
        soa.nameservers, soa.port = [server.host], server.port
        answer = soa.resolve(NAME, "A")
        assert answer.rrset is not None and answer.rrset.ttl == 1
    finally:
        server.stop()


def test_weighted_answers_every_healthy_node_by_weight_and_drops_a_dead_one(
        tmp_path: Path, nodes: dict[str, subprocess.Popen[bytes]], node_port: int) -> None:
    server = start_dns(tmp_path, node_port, policy="weighted", weights=[3, 1])
    try:
        wait_for(lambda: len({resolve(server)[0] for _ in range(20)}) == 2)
        seen = Counter(resolve(server)[0] for _ in range(200))
        assert set(seen) == set(NODES) and seen["127.0.0.1"] > seen["127.0.0.2"]
        stop([nodes["127.0.0.2"]])
        wait_for(lambda: all(resolve(server) == ["127.0.0.1"] for _ in range(20)))
    finally:
        server.stop()


def test_the_zone_file_names_the_store_with_its_ttl(tmp_path: Path) -> None:
    server = PowerDNSServer(tmp_path, 1, NAME, NODES, 8080, ttl_s=7)
    text = server.zone_text()
    assert server.zone == "lakefront.test"
    assert "$TTL 7" in text and "shop 7 IN LUA A" in text and "http://shop.lakefront.test:8080/healthz" in text
