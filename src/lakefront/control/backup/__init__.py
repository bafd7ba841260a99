"""Database backups into the backups bucket (the RDS automated-backup role), and point-in-time restore.

Layout of the backups bucket:

    base/<stamp>/db.sql.gz | db.sqlite.gz    a consistent full backup, gzipped
    base/<stamp>/manifest.json               time, GTID position, size, sha256, profile (written last)
    binlog/<name>                            closed binary logs of the primary, raw (services profile)

A base backup counts only once its manifest exists, and is used only if the sha256 of its bytes is the
manifest's. Restore never touches the running database: it builds a new one (a new MariaDB node on a free
port, or a new SQLite file) and says where it is.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lakefront.data.objects.base import ObjectStore

log = logging.getLogger("lakefront.control.backup")

Progress = Callable[[str], None]
BASE = "base/"
BINLOG = "binlog/"
BINLOG_SUMS = "binlog-sums/"
"""binlog-sums/<name>: "<sha256> <size>" of binlog/<name>, written after it (a binlog without one is not archived)."""


class BackupError(Exception):
    """A backup or restore that cannot go on; the message is one line."""


@dataclass(frozen=True)
class Manifest:
    key: str
    """The backup's object key in the backups bucket."""
    taken_at: str
    """UTC, ISO 8601: the database's snapshot is no later than this."""
    profile: str
    kind: str
    """"mariadb-dump" or "sqlite"."""
    database: str
    size: int
    sha256: str
    gtid: str = ""
    """MariaDB: the GTID position the snapshot stands at (replay starts after it)."""

    @property
    def taken(self) -> datetime:
        return datetime.fromisoformat(self.taken_at)


def _stamp(at: datetime) -> str:
    return at.strftime("%Y%m%dT%H%M%S") + f"{at.microsecond // 1000:03d}Z"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def parse_time(text: str) -> datetime:
    """An ISO 8601 time; naive times are UTC."""
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BackupError(f"not a time: {text!r} (use ISO 8601, e.g. 2026-12-01T10:00:00Z)") from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _publish(store: ObjectStore, path: Path, *, kind: str, profile: str, database: str, gtid: str,
             taken: datetime, suffix: str) -> Manifest:
    prefix = f"{BASE}{_stamp(taken)}/"
    manifest = Manifest(key=f"{prefix}db.{suffix}", taken_at=taken.isoformat(), profile=profile, kind=kind,
                        database=database, size=path.stat().st_size, sha256=sha256_file(path), gtid=gtid)
    store.put_file(manifest.key, path, "application/gzip")
    # The manifest last: a backup interrupted before it is invisible to restore and retention.
    store.put(f"{prefix}manifest.json", json.dumps(asdict(manifest), indent=1).encode(), "application/json")
    log.info("backup: %s %s, %d bytes, sha256 %s, gtid %r", kind, manifest.key, manifest.size,
             manifest.sha256[:12], gtid)
    return manifest


def backup_sqlite(store: ObjectStore, db_path: Path, *, progress: Progress = print) -> Manifest:
    """A consistent copy of a live SQLite database (its online backup API), gzipped into the backups bucket."""
    if not db_path.is_file():
        raise BackupError(f"no SQLite database at {db_path}")
    with tempfile.TemporaryDirectory(prefix="lakefront-backup-") as tmp:
        copy, packed = Path(tmp) / "db.sqlite", Path(tmp) / "db.sqlite.gz"
        progress(f"copying {db_path} (SQLite online backup)")
        with sqlite3.connect(db_path) as source, sqlite3.connect(copy) as target:
            source.backup(target, pages=1024)
        source.close()
        target.close()
        taken = datetime.now(UTC)
        _gzip(copy, packed)
        progress(f"uploading {packed.stat().st_size} bytes")
        return _publish(store, packed, kind="sqlite", profile="embedded", database=db_path.name, gtid="",
                        taken=taken, suffix="sqlite.gz")


def _gzip(source: Path, target: Path) -> None:
    with source.open("rb") as src, gzip.open(target, "wb", compresslevel=6) as dst:
        shutil.copyfileobj(src, dst, 1 << 20)


_GTID = re.compile(rb"gtid_slave_pos\s*=\s*'([^']*)'")


def dump_gtid(dump_gz: Path) -> str:
    """The GTID position a `mariadb-dump --gtid --master-data` file records.

    MariaDB 10.11's mariadb-dump writes it as a "deferred gtid setting" at the end of the file (after the
    data), so the whole stream is scanned; chunks overlap so a line split across two reads is still found.
    """
    found: str | None = None
    tail = b""
    with gzip.open(dump_gz, "rb") as f:
        while chunk := f.read(1 << 20):
            window = tail + chunk
            for match in _GTID.finditer(window):
                found = match.group(1).decode()
            tail = window[-256:]
    if found is None:
        raise BackupError("the dump records no GTID position (was binary logging on?)")
    return found


def manifests(store: ObjectStore) -> list[Manifest]:
    """The complete base backups, oldest first."""
    found = []
    for info in store.list(BASE):
        if info.key.endswith("/manifest.json"):
            data, _ = store.get(info.key)
            found.append(Manifest(**json.loads(data)))
    return sorted(found, key=lambda m: m.taken_at)


def fetch_verified(store: ObjectStore, manifest: Manifest, target: Path) -> Path:
    """Download a base backup and check it against its manifest: a corrupted or truncated one is refused."""
    data, _ = store.get(manifest.key)
    target.write_bytes(data)
    if len(data) != manifest.size or hashlib.sha256(data).hexdigest() != manifest.sha256:
        raise BackupError(f"backup {manifest.key} is corrupt: {len(data)} bytes with sha256 "
                          f"{hashlib.sha256(data).hexdigest()[:12]}, manifest says {manifest.size} bytes, "
                          f"sha256 {manifest.sha256[:12]}; refusing to restore it")
    return target


def binlog_sum(data: bytes) -> bytes:
    return f"{hashlib.sha256(data).hexdigest()} {len(data)}\n".encode()


def fetch_binlog_verified(store: ObjectStore, key: str, target: Path) -> Path:
    """Download one archived binary log and check it against its recorded sha256 and size."""
    name = key.removeprefix(BINLOG)
    data, _ = store.get(key)
    if not store.exists(BINLOG_SUMS + name):
        raise BackupError(f"archived binary log {key} has no recorded sha256 ({BINLOG_SUMS}{name}); "
                          "refusing to restore from it")
    recorded = store.get(BINLOG_SUMS + name)[0].decode(errors="replace").split()
    actual = binlog_sum(data).decode().split()
    if recorded != actual:
        said = f"{recorded[1]} bytes, sha256 {recorded[0][:12]}" if len(recorded) == 2 else "an unreadable sum"
        raise BackupError(f"archived binary log {key} is corrupt: {actual[1]} bytes with sha256 {actual[0][:12]}, "
                          f"recorded {said}; refusing to restore")
    target.write_bytes(data)
    return target


def choose_base(found: list[Manifest], to: datetime | None) -> Manifest:
    if not found:
        raise BackupError("no backups in the backups bucket: run `lakefront backup` first")
    if to is None:
        return found[-1]
    # `to` names a whole second and means its end: a backup taken during that second is a usable base.
    usable = [m for m in found if m.taken < to.replace(microsecond=0) + timedelta(seconds=1)]
    if not usable:
        raise BackupError(f"{to.isoformat()} is before the oldest backup ({found[0].taken_at}): outside the window")
    return usable[-1]


def expire(store: ObjectStore, retention_days: float, *, now: datetime | None = None) -> list[str]:
    """Delete base backups past retention (always keeping the newest) and binary logs older than every kept base."""
    now = now or datetime.now(UTC)
    found = manifests(store)
    if not found:
        return []
    cutoff = now - timedelta(days=retention_days)
    old = [m for m in found[:-1] if m.taken < cutoff]
    kept = found[len(old):]
    deleted = []
    for m in old:
        prefix = m.key.rsplit("/", 1)[0] + "/"
        for info in list(store.list(prefix)):
            if not info.key.endswith("manifest.json"):
                store.delete(info.key)
        store.delete(prefix + "manifest.json")
        deleted.append(m.key)
    oldest = kept[0].taken.timestamp()
    for info in list(store.list(BINLOG)):
        # A binary log uploaded before the oldest kept base was taken holds only transactions older than it.
        if info.modified and info.modified < oldest:
            store.delete(info.key)
            deleted.append(info.key)
            name = info.key.removeprefix(BINLOG)
            if store.exists(BINLOG_SUMS + name):
                store.delete(BINLOG_SUMS + name)
    for key in deleted:
        log.info("backup: expired %s (retention %g days)", key, retention_days)
    return deleted


def restore_sqlite(store: ObjectStore, target: Path, *, to: datetime | None,
                   progress: Progress = print) -> tuple[Manifest, Path]:
    """The newest SQLite backup taken at or before `to` (None: the newest), as a new file at `target`."""
    if target.exists():
        raise BackupError(f"{target} exists: restore writes a new database, never over one")
    manifest = choose_base([m for m in manifests(store) if m.kind == "sqlite"], to)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lakefront-restore-") as tmp:
        packed = fetch_verified(store, manifest, Path(tmp) / "db.sqlite.gz")
        progress(f"restoring {manifest.key} ({manifest.taken_at})")
        partial = target.with_name(target.name + ".partial")
        with gzip.open(packed, "rb") as src, partial.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        with sqlite3.connect(partial) as conn:
            ok = conn.execute("PRAGMA integrity_check").fetchone()
        conn.close()
        if ok is None or ok[0] != "ok":
            partial.unlink()
            raise BackupError(f"restored database fails SQLite's integrity check: {ok}")
        partial.replace(target)
    return manifest, target


def describe(manifest: Manifest) -> dict[str, Any]:
    return asdict(manifest)


def wait_seconds(seconds: float) -> None:
    time.sleep(seconds)


def _age(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def summary(store: ObjectStore, *, now: datetime | None = None) -> str:
    """One status line from what the backups bucket holds: the last base backup (time, age, size, kind) and
    the binary-log archive's last file and how long ago it was archived (the lag a restore --latest has)."""
    now = now or datetime.now(UTC)
    found = manifests(store)
    if not found:
        parts = ["no backup yet"]
    else:
        last = found[-1]
        parts = [f"last backup {last.taken:%Y-%m-%dT%H:%M:%SZ} ({_age((now - last.taken).total_seconds())} ago), "
                 f"{last.size:,} bytes, {last.kind}, {len(found)} kept"]
    summed = [info for info in store.list(BINLOG_SUMS)]
    if summed:
        newest = max(summed, key=lambda info: (info.modified, info.key))
        lag = now.timestamp() - newest.modified if newest.modified else None
        parts.append(f"binlogs archived to {newest.key.removeprefix(BINLOG_SUMS)}"
                     + (f", {_age(lag)} ago" if lag is not None else ""))
    return "; ".join(parts)
