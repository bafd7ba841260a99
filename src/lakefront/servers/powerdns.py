"""PowerDNS Authoritative (the Route 53 role) from Debian's packages (pdns-server, pdns-backend-bind).

It serves one zone from a BIND-style zone file: the store's name is a LUA record whose answer PowerDNS
health-checks itself (`ifurlup` against each balancer node's /healthz, every `check_interval_s`), so a
node that stops answering leaves the answer within the TTL plus one check interval, as a Route 53
record with a health check does. Why PowerDNS: it is a Debian package with health-checked records built
in (dnsmasq, knot and unbound have none, CoreDNS is not packaged here); a Python DNS library would have
meant writing the health checks and the server ourselves.

Routing policies: `failover` answers the first healthy node in order (primary, then secondaries);
`weighted` answers one healthy node at random, each with the weight given (pickwrandom over the healthy
ones). When no node passes, PowerDNS answers every node rather than nothing.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field
from pathlib import Path

from lakefront.servers.base import HOST, Server, ServerError, system_binary

_SEARCH_DIRS = (Path("/usr/sbin"), Path("/usr/bin"), Path("/usr/local/sbin"))


class PowerDNSError(ServerError):
    """PowerDNS could not be found or started; the message is one line."""


def pdns_binary() -> Path:
    found = system_binary(("pdns_server",), _SEARCH_DIRS)
    if found is not None:
        return found
    raise PowerDNSError("pdns_server not found in /usr/sbin; install it with: "
                        "apt-get install pdns-server pdns-backend-bind (or scripts/ensure-debian-packages)")


def soa_answered(host: str, port: int, zone: str, timeout: float = 0.5) -> bool:
    """One UDP query for the zone's SOA: True when answered with NOERROR and an answer record."""
    qname = b"".join(bytes([len(label)]) + label.encode() for label in zone.strip(".").split(".")) + b"\0"
    query = struct.pack(">HHHHHH", 0x4C46, 0, 1, 0, 0, 0) + qname + struct.pack(">HH", 6, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(query, (host, port))
        reply = sock.recv(4096)
    _id, flags, _qd, answers = struct.unpack(">HHHH", reply[:8])
    return bool(_id == 0x4C46 and flags & 0xF == 0 and answers > 0)


def _lua_list(items: list[str]) -> str:
    return "{" + ", ".join(f"'{item}'" for item in items) + "}"


def answer_rule(policy: str, nodes: list[str], weights: list[int], check_url: str) -> str:
    """The Lua of the store name's A record: which healthy nodes it answers."""
    if policy == "failover":
        # One set per node: the first set with a healthy address wins.
        sets = "{" + ", ".join(_lua_list([n]) for n in nodes) + "}"
        return f"ifurlup('{check_url}', {sets})"
    # ifurlup with selector 'all' keeps the healthy ones; then a weighted pick among them.
    table = "{" + ", ".join(f"['{n}']={w}" for n, w in zip(nodes, weights, strict=True)) + "}"
    return (f";local up = ifurlup('{check_url}', {{{_lua_list(nodes)}}}, {{selector='all'}}) "
            f"local w = {table} local pool = {{}} "
            "for _, a in ipairs(up) do table.insert(pool, {w[a] or 1, a}) end "
            "return pickwrandom(pool)")


@dataclass
class PowerDNSServer(Server):
    """PowerDNS on `host`:`port` serving the zone of `name`, with health-checked answers for `nodes`."""

    kind = "powerdns"
    error = PowerDNSError
    ready_timeout_s = 15.0
    stop_timeout_s = 5.0

    dir: Path
    port: int
    name: str
    """The store's name, e.g. shop.lakefront.test; the zone is everything after its first label."""
    nodes: list[str]
    check_port: int
    """Where each node's public listener answers /healthz."""
    ttl_s: int = 5
    check_interval_s: int = 1
    policy: str = "failover"
    weights: list[int] = field(default_factory=list)
    host: str = HOST

    @property
    def zone(self) -> str:
        return self.name.split(".", 1)[1]

    def argv(self) -> list[str]:
        return [str(pdns_binary()), f"--config-dir={self.dir.resolve()}", "--config-name="]

    def default_log_path(self) -> Path:
        return self.dir / "pdns.log"

    def zone_text(self) -> str:
        label = self.name.split(".", 1)[0]
        weights = self.weights or [1] * len(self.nodes)
        check_url = f"http://{self.name}:{self.check_port}/healthz"
        rule = answer_rule(self.policy, self.nodes, weights, check_url).replace('"', '\\"')
        return "\n".join([
            f"$TTL {self.ttl_s}",
            f"@ IN SOA ns.{self.zone}. hostmaster.{self.zone}. 1 60 60 600 {self.ttl_s}",
            f"@ IN NS ns.{self.zone}.",
            f"ns IN A {self.host}",
            f'{label} {self.ttl_s} IN LUA A "{rule}"',
            "",
        ])

    def prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        work = self.dir.resolve()
        (work / "zone").write_text(self.zone_text())
        (work / "named.conf").write_text(f'zone "{self.zone}" {{ type master; file "{work / "zone"}"; }};\n')
        settings = {
            "launch": "bind", "bind-config": str(work / "named.conf"), "local-address": self.host,
            "local-port": str(self.port), "socket-dir": str(work), "daemon": "no", "guardian": "no",
            "enable-lua-records": "yes", "lua-health-checks-interval": str(self.check_interval_s),
            # No caches: an answer must change as soon as a health check does.
            "cache-ttl": "0", "negquery-cache-ttl": "0", "query-cache-ttl": "0",
            "webserver": "no", "api": "no", "loglevel": "4", "disable-syslog": "yes",
        }
        (work / "pdns.conf").write_text("".join(f"{k}={v}\n" for k, v in settings.items()))

    def ready(self) -> bool:
        """The zone's SOA is answered."""
        return soa_answered(self.host, self.port, self.zone)

    def not_ready_errors(self) -> tuple[type[BaseException], ...]:
        return (OSError,)


__all__ = ["HOST", "PowerDNSError", "PowerDNSServer", "answer_rule", "soa_answered"]
