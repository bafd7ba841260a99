"""The services profile's backups: a dump from a node (the standby by preference), the primary's binary logs
archived as they close, and a restore into a fresh MariaDB node at any second the archive covers."""

from __future__ import annotations

import logging
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lakefront.control.backup import (
    BINLOG,
    BINLOG_SUMS,
    BackupError,
    Manifest,
    Progress,
    _publish,
    binlog_sum,
    choose_base,
    dump_gtid,
    fetch_binlog_verified,
    fetch_verified,
    manifests,
)
from lakefront.data.objects.base import ObjectStore
from lakefront.servers import mariadb_backup as tools
from lakefront.servers.mariadb import MariaDBServer
from lakefront.servers.procs import free_port

log = logging.getLogger("lakefront.control.backup")


def backup_mariadb(store: ObjectStore, node: MariaDBServer, database: str, *, progress: Progress = print) -> Manifest:
    """A consistent dump of `database` from `node` (one snapshot, no locks held on InnoDB tables)."""
    with tempfile.TemporaryDirectory(prefix="lakefront-backup-") as tmp:
        packed = Path(tmp) / "db.sql.gz"
        progress(f"dumping {database} from 127.0.0.1:{node.port} (mariadb-dump --single-transaction --gtid)")
        tools.dump(node, database, packed)
        taken = datetime.now(UTC)
        gtid = dump_gtid(packed)
        progress(f"uploading {packed.stat().st_size} bytes (GTID {gtid or 'empty'})")
        return _publish(store, packed, kind="mariadb-dump", profile="services", database=database, gtid=gtid,
                        taken=taken, suffix="sql.gz")


def archive_binlogs(store: ObjectStore, primary: MariaDBServer, *, flush: bool = True) -> list[str]:
    """Upload the primary's closed binary logs not yet archived; with `flush`, close the current one first,
    so that everything committed before this call is archived when it returns."""
    if flush:
        tools.flush_binlogs(primary)
    names = tools.binlogs(primary)
    # Archived means the log and its sha256 are both stored (the sum goes second, so a pass cut between the
    # two uploads the log again next time).
    archived = {info.key.removeprefix(BINLOG_SUMS) for info in store.list(BINLOG_SUMS)}
    uploaded = []
    with tempfile.TemporaryDirectory(prefix="lakefront-binlog-") as tmp:
        for name in names[:-1]:  # the last one is still being written
            if name in archived:
                continue
            path = tools.fetch_binlog(primary, name, Path(tmp))
            store.put_file(BINLOG + name, path, "application/octet-stream")
            store.put(BINLOG_SUMS + name, binlog_sum(path.read_bytes()), "text/plain")
            uploaded.append(name)
            log.info("binlog: archived %s (%d bytes)", name, path.stat().st_size)
    return uploaded


def restore_mariadb(store: ObjectStore, root: Path, *, to: datetime | None, port: int | None = None,
                    template: Path | None = None, progress: Progress = print) -> tuple[Manifest, MariaDBServer]:
    """A new, running MariaDB node under `root` holding the database as it was at the end of second `to`
    (every transaction committed at or before it), or at the last archived transaction when `to` is None."""
    if root.exists() and any(root.iterdir()):
        raise BackupError(f"{root} is not empty: restore builds a new server, never over one")
    manifest = choose_base([m for m in manifests(store) if m.kind == "mariadb-dump"], to)
    server = MariaDBServer(root=root, port=port or free_port(), server_id=900, read_only_at_start=False)
    with tempfile.TemporaryDirectory(prefix="lakefront-restore-") as tmp:
        packed = fetch_verified(store, manifest, Path(tmp) / "db.sql.gz")
        names = sorted(info.key for info in store.list(BINLOG))
        files = []
        for key in names:  # every log checked before a server exists: a corrupt one leaves nothing behind
            files.append(fetch_binlog_verified(store, key, Path(tmp) / key.removeprefix(BINLOG)))
        progress(f"starting a new MariaDB node on 127.0.0.1:{server.port} under {root}")
        server.initialize(template)
        server.start_ready()
        try:
            progress(f"loading {manifest.key} ({manifest.taken_at}, GTID {manifest.gtid})")
            tools.load_dump(server, packed)
            # --stop-datetime stops before the first event of that second: one second on keeps `to`'s own.
            stop = None if to is None else to.replace(microsecond=0) + timedelta(seconds=1)
            progress(f"replaying {len(files)} archived binary logs after {manifest.gtid}"
                     + (f" until {stop.isoformat()}" if stop else " to the last archived transaction"))
            tools.replay(server, files, after_gtid=manifest.gtid, stop=stop)
        except BaseException:
            server.stop()
            raise
    return manifest, server
