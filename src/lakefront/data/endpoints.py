"""Where the database is: the settings' endpoints, or those the failover monitor publishes (the role RDS's
writer and reader DNS names play).

With a standby (`settings.replicated`), the control plane writes one small JSON document (atomically: write,
fsync, rename) to `settings.db_endpoints_file` whenever the primary or the set of readers changes:

    {"generation": 7, "writer": {"node": "db-2", "host": "127.0.0.1", "port": 3308} | null,
     "readers": [{"node": "db-1", "host": "127.0.0.1", "port": 3307}], "updated_at": "..."}

`writer: null` means "no primary right now" (a switchover in progress): writers wait. Every app
instance reads it through `EndpointsFile`, which costs one stat() per call and re-reads the document
only when it changed, so an instance follows a failover without a restart. Which node is primary is
also recorded in `settings.db_roles_file` ({"primary": "db-2", "updated_at": "..."}), which outlives
a run of `up`: it says where the writer is when nothing is published.

`writer_url`, `reader_url` and `standby_url` resolve all that for a process that connects once (a
migration, the seed, the extract).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from lakefront.settings import Profile, Settings, SettingsError


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


def mysql_url(node: Node, *, user: str, password: str, database: str) -> str:
    return (f"mysql+pymysql://{quote(user, safe='')}:{quote(password, safe='')}@{node.host}:{node.port}/"
            f"{database}?charset=utf8mb4")


def read_endpoints(path: Path) -> Endpoints | None:
    """The published document, or None when there is none (or it is being replaced right now)."""
    try:
        return Endpoints.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


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
                current = read_endpoints(self.path)
                if current is not None:  # else replaced between stat and read: the next call sees the new file
                    self._current, self._stamp = current, stamp
        return self._current


def recorded_primary(path: Path) -> str | None:
    """The node the roles file names as primary, or None (no file, or not one the control plane wrote)."""
    try:
        name = json.loads(path.read_text())["primary"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return name if isinstance(name, str) else None


def record_primary(path: Path, primary: str, updated_at: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"primary": primary, "updated_at": updated_at}))
    tmp.replace(path)


# Resolution, for processes that connect once.

def _managed_url(settings: Settings, node: Node) -> str:
    """The app's database on a MariaDB node `lakefront up` runs, as the app user."""
    db = settings.db
    return mysql_url(node, user=db.user, password=db.password.get_secret_value(), database=db.name)


def _published(settings: Settings) -> Endpoints | None:
    path = settings.db_endpoints_file
    return read_endpoints(path) if path is not None else None


def _primary(settings: Settings) -> Node:
    """With a standby the primary moves: the writer last published (or recorded in the roles file while nothing
    runs), else db.port's node."""
    primary = Node("db-1", "127.0.0.1", settings.db.port)
    if not settings.replicated:
        return primary
    published = _published(settings)
    if published is not None and published.writer is not None:
        return published.writer
    if recorded_primary(settings.db_roles_file) == "db-2":
        return Node("db-2", "127.0.0.1", settings.standby_port)
    return primary


def writer_url(settings: Settings) -> str:
    """SQLAlchemy URL of the primary (writes, and reads that lead to writes) as of now."""
    if settings.db.writer_url:
        return settings.db.writer_url
    if settings.profile is Profile.services:
        return _managed_url(settings, _primary(settings))
    if settings.profile is Profile.aws:
        # On an instance a silent SQLite file would lose every order at the next scale-in.
        raise SettingsError("the aws profile needs db.writer_url or aws.db_secret (read at start-up)")
    return f"sqlite:///{settings.sqlite_path}"


def reader_url(settings: Settings) -> str:
    """SQLAlchemy URL for reads that may go to a standby: the settings' reader, else the writer."""
    return settings.db.reader_url or writer_url(settings)


def standby_url(settings: Settings) -> str | None:
    """URL of the standby the failover monitor publishes as a reader, if `up` runs one and it is attached."""
    published = _published(settings)
    return _managed_url(settings, published.readers[0]) if published is not None and published.readers else None
