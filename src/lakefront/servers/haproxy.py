"""HAProxy (Debian's haproxy 2.6) as the Network Load Balancer role: one L4 (`mode tcp`) listener, the database
writer endpoint, whose backend holds one server per database node and sends connections to the one in state
ready; every other node is in maintenance, so it never gets a connection through the listener.

The process reads a config file written here (`render_config`), then is driven through its runtime API on a
unix socket under its directory (`runtime()`, level admin): `set server writer/<node> state ready|maint`,
`shutdown sessions server ...`, `set server ... addr ... port ...`, `show stat`. Which node is the writer is
not HAProxy's decision but the control plane's (control/nlb.py); HAProxy's own health check
(`option mysql-check`, which reads the server's handshake greeting) only marks a dead writer DOWN sooner and
cuts its sessions (`on-marked-down shutdown-sessions`).

With skip-name-resolve (servers/mariadb.py) the health check's unauthenticated connections only count in
Aborted_connects; they never get 127.0.0.1 blocked by max_connect_errors (checked on MariaDB 10.11).
"""

from __future__ import annotations

import csv
import io
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lakefront.servers.base import HOST, Server, ServerError, system_binary

_SEARCH_DIRS = (Path("/usr/sbin"), Path("/usr/bin"), Path("/usr/local/sbin"))

BACKEND = "writer"
FRONTEND = "writer_endpoint"


class HAProxyError(ServerError):
    """HAProxy could not be found, started or driven; the message is one line."""


def haproxy_binary() -> Path:
    found = system_binary(("haproxy",), _SEARCH_DIRS)
    if found is not None:
        return found
    raise HAProxyError("haproxy not found in /usr/sbin; install it with: apt-get install haproxy "
                       "(or scripts/ensure-debian-packages)")


@dataclass(frozen=True)
class Target:
    """A database node the listener may send connections to."""

    name: str
    host: str
    port: int


def render_config(*, port: int, targets: Sequence[Target], writer: str | None, socket_path: Path,
                  host: str = HOST, check_interval_ms: int = 500, idle_timeout_s: int = 350,
                  source: str | None = None) -> str:
    """The whole config: the listener on host:port, one server per target, all but `writer` in maintenance
    (`disabled`), so a process (re)started mid-failover comes up pointing where the control plane says."""
    names = [t.name for t in targets]
    if len(set(names)) != len(names) or not all(n.replace("-", "").replace("_", "").isalnum() for n in names):
        raise HAProxyError(f"target names must be distinct words, got {names}")
    if writer is not None and writer not in names:
        raise HAProxyError(f"writer {writer!r} is none of the targets {names}")
    source_clause = f" source {source}" if source else ""
    lines = [
        "global",
        # level admin: the control plane changes server state through it; mode 600: only our user.
        f"    stats socket {socket_path} mode 600 level admin",
        "    stats timeout 10s",
        "    log stdout format raw local0 info",
        "",
        "defaults",
        "    mode tcp",
        "    log global",
        "    option tcplog",
        "    option dontlognull",
        "    timeout connect 2s",
        f"    timeout client {idle_timeout_s}s",
        f"    timeout server {idle_timeout_s}s",
        # A connect that fails is tried again; redispatch lets the last try go to another server, which can only
        # be a ready one (servers in maintenance are never chosen).
        "    retries 3",
        "    option redispatch",
        "",
        f"frontend {FRONTEND}",
        f"    bind {host}:{port}",
        f"    default_backend {BACKEND}",
        "",
        f"backend {BACKEND}",
        "    option mysql-check",
        f"    default-server inter {check_interval_ms}ms fall 2 rise 1 on-marked-down shutdown-sessions",
    ]
    for t in targets:
        state = "" if t.name == writer else " disabled"
        lines.append(f"    server {t.name} {t.host}:{t.port} check{source_clause}{state}")
    return "\n".join(lines) + "\n"


def runtime_command(socket_path: Path, command: str, timeout: float = 2.0) -> str:
    """One command on HAProxy's runtime API socket; its answer (the socket closes after it)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(socket_path))
        sock.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def backend_stats(socket_path: Path, timeout: float = 2.0) -> list[dict[str, str]]:
    """`show stat` of the writer backend: one dict per server (svname, addr, status, scur, stot, check_status,
    ...) and its BACKEND row."""
    text = runtime_command(socket_path, "show stat", timeout).lstrip("# ")
    return [row for row in csv.DictReader(io.StringIO(text)) if row.get("pxname") == BACKEND]


@dataclass
class HAProxyServer(Server):
    """HAProxy in `dir`, listening on `host`:`port` for the database writer endpoint."""

    kind = "haproxy"
    error = HAProxyError
    ready_timeout_s = 10.0
    stop_timeout_s = 5.0

    dir: Path
    port: int
    targets: list[Target]
    writer: str | None = None
    """The node the config starts with in state ready (kept current by the control plane for restarts)."""
    check_interval_ms: int = 500
    idle_timeout_s: int = 350
    source: str | None = None
    """Address HAProxy connects to the nodes from (default: the kernel's choice, 127.0.0.1)."""
    host: str = HOST

    @property
    def config_path(self) -> Path:
        return self.dir / "haproxy.cfg"

    @property
    def socket_path(self) -> Path:
        return self.dir.resolve() / "admin.sock"

    def config_text(self) -> str:
        return render_config(port=self.port, targets=self.targets, writer=self.writer, socket_path=self.socket_path,
                             host=self.host, check_interval_ms=self.check_interval_ms,
                             idle_timeout_s=self.idle_timeout_s, source=self.source)

    def argv(self) -> list[str]:
        # -db: stay in the foreground, logs on stdout (our log file).
        return [str(haproxy_binary()), "-db", "-f", str(self.config_path.resolve())]

    def default_log_path(self) -> Path:
        return self.dir / "haproxy.log"

    def prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket_path.unlink(missing_ok=True)  # a killed process leaves it
        self.config_path.write_text(self.config_text())

    def cleanup(self) -> None:
        self.socket_path.unlink(missing_ok=True)

    def ready(self) -> bool:
        """The runtime API answers and shows the backend."""
        return any(row["svname"] == "BACKEND" for row in self.stats())

    def not_ready_errors(self) -> tuple[type[BaseException], ...]:
        return (OSError,)

    # The runtime API.

    def runtime(self, command: str) -> str:
        """Run one runtime API command; an answer that is not empty (HAProxy's way of saying no) raises."""
        try:
            answer = runtime_command(self.socket_path, command).strip()
        except OSError as exc:
            raise HAProxyError(f"{self.label}: runtime API {self.socket_path} unreachable: {exc}") from exc
        if answer and not command.startswith("show "):
            raise HAProxyError(f"{self.label}: {command!r} refused: {answer.splitlines()[0]}")
        return answer

    def stats(self) -> list[dict[str, str]]:
        return backend_stats(self.socket_path)

    def servers(self) -> dict[str, dict[str, str]]:
        """The writer backend's servers by name, as `stats()` shows them."""
        return {row["svname"]: row for row in self.stats() if row["svname"] not in ("BACKEND", "FRONTEND")}

    def set_maint(self, name: str) -> None:
        """No new connection goes to `name`, and the ones it has are cut."""
        self.runtime(f"set server {BACKEND}/{name} state maint")
        self.runtime(f"shutdown sessions server {BACKEND}/{name}")

    def set_ready(self, name: str, host: str, port: int) -> None:
        """`name` takes new connections, at host:port. A server that moved is put in maintenance first (its
        sessions are to the old address), given the new address, then set ready: leaving maintenance it is
        taken as up at once, where a server marked DOWN by its checks would wait for the next check to pass."""
        current = self.servers().get(name, {}).get("addr", "")
        if current != f"{host}:{port}":
            self.set_maint(name)
            answer = runtime_command(self.socket_path, f"set server {BACKEND}/{name} addr {host} port {port}")
            if "changed" not in answer and "no need" not in answer:
                raise HAProxyError(f"{self.label}: address of {name} not changed: {answer.strip()}")
        self.runtime(f"set server {BACKEND}/{name} state ready")


__all__ = [
    "BACKEND",
    "HAProxyError",
    "HAProxyServer",
    "Target",
    "backend_stats",
    "haproxy_binary",
    "render_config",
    "runtime_command",
]
