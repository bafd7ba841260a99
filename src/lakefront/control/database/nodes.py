"""The pair's two nodes: each a MariaDB server under var/ and its replication role, and what they share."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from lakefront.data.endpoints import Node
from lakefront.servers.base import HOST
from lakefront.servers.managed import node_server
from lakefront.servers.mariadb import MariaDBServer
from lakefront.servers.replication import Replication
from lakefront.settings import Settings

REPL_USER = "repl"
WAIT_FOREVER_MS = 4_294_967_295  # rpl_semi_sync_master_timeout's maximum (about 49 days)


@dataclass
class DbNode:
    name: str
    server: MariaDBServer
    restarts: int = 0
    busy: bool = False  # a restart or rejoin of this node is queued or running on the nodes worker
    needs_rejoin: bool = False
    repl: Replication = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.repl = Replication(self.server)

    @property
    def port(self) -> int:
        return self.server.port

    def alive(self) -> bool:
        return self.server.running

    def node(self) -> Node:
        return Node(self.name, HOST, self.port)

    def kill(self) -> None:
        """Kill its process if it still runs (we own it: STONITH); forget it if it already died."""
        if self.server.proc is not None and self.server.proc.poll() is None:
            self.server.kill()
        else:
            self.server.proc = None


def semi_sync_timeout_ms(settings: Settings) -> int:
    """How long a commit waits for the standby: db.semi_sync_timeout_ms, or for ever when db.standby_loss=wait."""
    db = settings.db
    return db.semi_sync_timeout_ms if db.standby_loss == "continue" else WAIT_FOREVER_MS


def pair(settings: Settings) -> dict[str, DbNode]:
    """db-1 (var/mariadb, db.port) and db-2 (var/mariadb-2, db.standby_port)."""
    ports = {"db-1": settings.db.port, "db-2": settings.standby_port}
    timeout = semi_sync_timeout_ms(settings)
    return {name: DbNode(name, node_server(settings.var_dir, name, port, semi_sync_timeout_ms=timeout))
            for name, port in ports.items()}


def repl_password(settings: Settings) -> str:
    # Derived from the app's secret: stable across restarts, never in the settings file.
    return hashlib.sha256(f"repl:{settings.db.password.get_secret_value()}".encode()).hexdigest()[:32]
