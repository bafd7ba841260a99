"""Database endpoints published by the failover monitor: the role RDS's writer and reader DNS names play.

The control plane writes one small JSON document (atomically: write, fsync, rename) whenever the
primary or the set of readers changes:

    {"generation": 7, "writer": {"node": "db-2", "host": "127.0.0.1", "port": 3308} | null,
     "readers": [{"node": "db-1", "host": "127.0.0.1", "port": 3307}], "updated_at": "..."}

`writer: null` means "no primary right now" (a switchover in progress): writers wait. Every app
instance and job reads it through `EndpointsFile`, which costs one stat() per call and re-reads the
document only when it changed, so an instance follows a failover without a restart.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Node:
    node: str
    host: str
    port: int

    def as_dict(self) -> dict[str, Any]:
        return {"node": self.node, "host": self.host, "port": self.port}


@dataclass(frozen=True)
class Endpoints:
    generation: int
    writer: Node | None
    readers: tuple[Node, ...] = ()
    updated_at: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"generation": self.generation, "writer": self.writer.as_dict() if self.writer else None,
                "readers": [r.as_dict() for r in self.readers], "updated_at": self.updated_at}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Endpoints:
        writer = raw.get("writer")
        return cls(generation=int(raw["generation"]), writer=Node(**writer) if writer else None,
                   readers=tuple(Node(**r) for r in raw.get("readers", [])), updated_at=raw.get("updated_at", ""))


def write_endpoints(path: Path, endpoints: Endpoints) -> None:
    """Publish atomically: a reader sees the old document or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w") as f:
        json.dump(endpoints.as_dict(), f)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


class EndpointsFile:
    """The published endpoints, re-read only when the file changes (one stat per call)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._current: Endpoints | None = None

    def current(self) -> Endpoints | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return self._current
        stamp = (st.st_mtime_ns, st.st_ino)
        if stamp == self._stamp:
            return self._current
        with self._lock:
            if stamp != self._stamp:
                try:
                    self._current = Endpoints.from_dict(json.loads(self.path.read_text()))
                    self._stamp = stamp
                except (OSError, ValueError, KeyError, TypeError):
                    pass  # replaced between stat and read: the next call sees the new file
        return self._current
