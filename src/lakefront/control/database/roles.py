"""The pair's nodes and their roles: who is primary, kept in var/db-roles.json so a restart of `up` keeps
it, the endpoints every app instance follows (var/run/db-endpoints.json), and the role changes so far.
The state the heartbeat, the standby's keeper, the role changes and the monitor share."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lakefront.control.database.nodes import DbNode, pair, semi_sync_timeout_ms
from lakefront.control.supervisor import now_iso
from lakefront.data.endpoints import Endpoints, record_primary, recorded_primary, write_endpoints
from lakefront.settings import Settings

log = logging.getLogger("lakefront.control")

MAX_EVENTS = 20


@dataclass
class FailoverEvent:
    id: str
    kind: str  # "failover" (primary lost) or "switchover" (planned)
    reason: str
    old_primary: str
    new_primary: str
    started_at: str
    promoted_at: str = ""
    duration_s: float = 0.0
    # gtid_binlog_state of the new primary at promotion: what it had of the old primary's history.
    promoted_gtid: dict[str, int] = field(default_factory=dict)
    old_primary_rejoined: str = ""  # "replicated", "rebuilt" or "" (not yet)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def gtid_json(state: dict[tuple[int, int], int]) -> dict[str, int]:
    return {f"{d}-{s}": seq for (d, s), seq in sorted(state.items())}


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Roles:
    def __init__(self, settings: Settings, on_change: Callable[[], None] | None = None) -> None:
        self.settings = settings
        self.nodes: dict[str, DbNode] = pair(settings)
        self.semi_sync_timeout_ms = semi_sync_timeout_ms(settings)
        self.roles_file = settings.db_roles_file
        self.endpoints_file = settings.db_endpoints_file or settings.run_dir / "db-endpoints.json"
        recorded = recorded_primary(self.roles_file)
        self.primary = recorded if recorded in self.nodes else "db-1"
        self.generation = int(time.time() * 1000)  # grows across restarts of `up`
        self.readers: list[str] = []
        self.events: list[FailoverEvent] = []
        self.standby_in_sync: bool | None = None
        """Whether the primary's commits waited for the standby at the last status check (None: not checked yet)."""
        self.restart_in_place = False
        """The primary is lost and failing over was refused: it is restarted where it is, as the primary."""
        self.refused: dict[str, str] | None = None
        """The last failover refused: when, which primary, and why (one line), for status."""
        self.lock = threading.RLock()
        """One role change at a time."""
        self.on_change = on_change
        """Called (from the monitor's and the nodes' threads) when roles or events change."""
        self.listeners: list[Callable[[Endpoints], None]] = []
        """Called with every document published, right after it is written and before the role change goes on
        (the NLB's writer endpoint follows it: control/nlb.py). A listener must not raise."""

    @property
    def standby(self) -> str:
        return next(name for name in self.nodes if name != self.primary)

    def save(self) -> None:
        record_primary(self.roles_file, self.primary, now_iso())

    def publish(self, *, writer: bool = True) -> None:
        self.generation += 1
        endpoints = Endpoints(
            generation=self.generation, writer=self.nodes[self.primary].node() if writer else None,
            readers=tuple(self.nodes[name].node() for name in self.readers), updated_at=now_iso())
        write_endpoints(self.endpoints_file, endpoints)
        for listener in self.listeners:
            try:
                listener(endpoints)
            except Exception as exc:  # a follower must never stop a failover
                log.error("database endpoints %d: listener failed: %s: %s", self.generation, type(exc).__name__, exc)
        log.info("database endpoints %d published: writer=%s readers=%s", self.generation,
                 self.primary if writer else "none (switching)", ",".join(self.readers) or "none")

    def record(self, event: FailoverEvent) -> None:
        self.events = [*self.events[-(MAX_EVENTS - 1):], event]

    def changed(self) -> None:
        if self.on_change is not None:
            try:
                self.on_change()
            except Exception as exc:  # reporting must not break the monitor
                log.warning("database: could not save state: %s", exc)
