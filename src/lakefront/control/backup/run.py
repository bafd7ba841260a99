"""What `lakefront backup`, `archive-binlogs` and `restore` do with the settings: which database, which nodes.

services profile: the nodes are the MariaDB servers `up` manages under var/ (db-1, and db-2 with a standby).
The dump is taken from the standby when there is one (read_only and replicating: the primary does no extra
work), the binary logs are read from the primary. A database the settings name by URL (not managed here)
is not backed up by this command: on AWS, RDS takes its own backups.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from lakefront.control.backup import BackupError, Manifest, Progress, backup_sqlite, expire, restore_sqlite
from lakefront.control.backup.mariadb import archive_binlogs, backup_mariadb, restore_mariadb
from lakefront.data.objects import make_object_store
from lakefront.servers.managed import node_server
from lakefront.servers.mariadb import MariaDBServer
from lakefront.settings import Profile, Settings


def _managed_nodes(settings: Settings) -> list[MariaDBServer]:
    if settings.db.writer_url:
        raise BackupError("the database is given by URL (db.writer_url), not run by `up`: back it up where it runs "
                          "(on AWS, RDS's automated backups)")
    nodes = [node_server(settings.var_dir, "db-1", settings.db.port)]
    if settings.replicated:
        nodes.append(node_server(settings.var_dir, "db-2", settings.standby_port))
    return nodes


def _read_only(node: MariaDBServer) -> bool | None:
    """True for a standby, False for the primary, None when the node does not answer."""
    try:
        with node.connect_root(connect_timeout=3) as conn, conn.cursor() as cur:
            cur.execute("SELECT @@read_only")
            row = cur.fetchone()
    except Exception:
        return None
    return bool(row and row[0])


def primary_and_source(settings: Settings) -> tuple[MariaDBServer, MariaDBServer]:
    """(the primary, the node to dump: the standby if one answers, else the primary)."""
    states = [(node, _read_only(node)) for node in _managed_nodes(settings)]
    primaries = [node for node, ro in states if ro is False]
    standbys = [node for node, ro in states if ro is True]
    if not primaries:
        raise BackupError("no writable MariaDB node answers under "
                          f"{settings.var_dir}: is `lakefront up --profile services` running?")
    return primaries[0], (standbys or primaries)[0]


def backup(settings: Settings, *, progress: Progress = print, retention: bool = True) -> Manifest:
    store = make_object_store(settings, "backups")
    if settings.profile is Profile.embedded:
        manifest = backup_sqlite(store, settings.sqlite_path, progress=progress)
    elif settings.profile is Profile.services:
        primary, source = primary_and_source(settings)
        # Archive first: the binary logs then reach back at least to this dump's position.
        archive_binlogs(store, primary)
        manifest = backup_mariadb(store, source, settings.db.name, progress=progress)
    else:
        raise BackupError("the aws profile's database is RDS: its automated backups and PITR are AWS's")
    if retention:
        for key in expire(store, settings.backup.retention_days):
            progress(f"expired {key}")
    return manifest


def archive_forever(settings: Settings, every_s: float, *, log: Callable[[str], None] = print,
                    stop: Callable[[], bool] = lambda: False) -> None:
    """Archive the primary's binary logs every `every_s` seconds (a failed pass is logged and retried)."""
    if settings.profile is not Profile.services:
        raise BackupError("binary logs exist in the services profile only")
    store = make_object_store(settings, "backups")
    while not stop():
        try:
            primary, _ = primary_and_source(settings)
            uploaded = archive_binlogs(store, primary)
            if uploaded:
                log(f"archived {', '.join(uploaded)}")
        except Exception as exc:  # the primary may be failing over: try again next pass
            log(f"archive pass failed: {' '.join(str(exc).split())}")
        time.sleep(every_s)


def restore(settings: Settings, *, to: datetime | None, into: Path | None, port: int | None,
            progress: Progress = print) -> tuple[Manifest, str]:
    """Restore into a new database; returns the manifest used and how to reach the result."""
    store = make_object_store(settings, "backups")
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    if settings.profile is Profile.embedded:
        target = into or settings.var_dir / "restore" / f"lakefront-{stamp}.sqlite"
        manifest, path = restore_sqlite(store, target.resolve(), to=to, progress=progress)
        return manifest, f"sqlite:///{path} (use it: LAKEFRONT_DB__WRITER_URL=sqlite:///{path})"
    if settings.profile is Profile.services:
        root = (into or settings.var_dir / "restore" / f"mariadb-{stamp}").resolve()
        if to is None:
            primary, _ = primary_and_source(settings)
            archive_binlogs(store, primary)  # --latest: everything committed until now
        manifest, server = restore_mariadb(store, root, to=to, port=port, progress=progress)
        # Servers die with the process that spawned them (servers/procs.py): stop this one cleanly rather than
        # leave it to be killed when the command exits, and say how to start it.
        server.stop()
        return manifest, (f"mysql+pymysql://root@/{settings.db.name}?unix_socket={server.socket_path} "
                          f"(MariaDB datadir under {root}, port {server.port}, shut down cleanly; "
                          f"start it: {' '.join(server.argv())})")
    raise BackupError("the aws profile's database is RDS: restore it with RDS point-in-time restore")
