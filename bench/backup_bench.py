"""Backup and restore time and size on a real MariaDB, and the recovery point beside RDS's.

    .venv/bin/python bench/backup_bench.py [--scale 1]

Scale 1: 100,000 order rows (the demo's scale-1 order count) in a synthetic table, then 1,000 more after the
backup, archived as binary logs. Measures: dump + upload (s), backup size (bytes), one archive pass (s), a
restore to the last archived transaction into a new node (s), and a point-in-time restore to a second T
noted between the 1,000 orders and 500 later ones (s; exactly the orders committed by T). Recovery point: at
most one archive interval (backup.binlog_interval_s) plus one pass, beside RDS's 5 minutes for PITR.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lakefront.control.backup.mariadb import archive_binlogs, backup_mariadb, restore_mariadb
from lakefront.data.objects.directory import DirectoryStore
from lakefront.servers.mariadb import MariaDBServer
from lakefront.servers.procs import free_port
from lakefront.servers.replication import Replication


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--interval", type=float, default=5.0, help="binlog archive interval assumed (s)")
    args = parser.parse_args()
    rows = int(100_000 * args.scale)
    tmp = Path(tempfile.mkdtemp(prefix="lakefront-backup-bench-"))
    server = MariaDBServer(root=tmp / "primary", port=free_port(), read_only_at_start=False)
    restored = None
    try:
        server.initialize()
        server.start_ready()
        Replication(server).promote()
        with server.connect_root() as conn, conn.cursor() as cur:
            cur.execute("CREATE DATABASE shop")
            cur.execute("CREATE TABLE shop.orders (id INT AUTO_INCREMENT PRIMARY KEY, customer_id INT, "
                        "total_cents BIGINT, note VARCHAR(64), created_at DATETIME)")
            print(f"loading {rows} orders", flush=True)
            cur.execute(f"INSERT INTO shop.orders (customer_id, total_cents, note, created_at) SELECT seq % 10000, "
                        f"seq * 7 % 100000, CONCAT('order ', seq), NOW() FROM shop.seq_1_to_{rows}")
        store = DirectoryStore(tmp / "backups")
        started = time.perf_counter()
        manifest = backup_mariadb(store, server, "shop", progress=lambda line: print("  " + line, flush=True))
        backup_s = time.perf_counter() - started
        with server.connect_root() as conn, conn.cursor() as cur:
            for i in range(1000):
                cur.execute("INSERT INTO shop.orders (customer_id, total_cents, note, created_at) "
                            "VALUES (%s, %s, 'after', NOW())", (i, i))
        last = datetime.now(UTC).replace(microsecond=0)
        while datetime.now(UTC) < last + timedelta(seconds=1):  # T: the end of the last insert's second
            time.sleep(0.05)
        to = last
        with server.connect_root() as conn, conn.cursor() as cur:
            for i in range(500):
                cur.execute("INSERT INTO shop.orders (customer_id, total_cents, note, created_at) "
                            "VALUES (%s, %s, 'later', NOW())", (i, i))
        started = time.perf_counter()
        archive_binlogs(store, server)
        archive_s = time.perf_counter() - started
        started = time.perf_counter()
        _, restored = restore_mariadb(store, tmp / "restored", to=None, progress=lambda line: print("  " + line))
        restore_s = time.perf_counter() - started
        with restored.connect_root() as conn, conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM shop.orders")
            count = cur.fetchone()[0]  # type: ignore[index]
        assert count == rows + 1500, count
        restored.stop()
        restored.cleanup()
        started = time.perf_counter()
        _, restored = restore_mariadb(store, tmp / "pitr", to=to, progress=lambda line: print("  " + line))
        pitr_s = time.perf_counter() - started
        with restored.connect_root() as conn, conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM shop.orders")
            count = cur.fetchone()[0]  # type: ignore[index]
        assert count == rows + 1000, count
        print(f"\nmachine: {platform.node()} {platform.machine()}, scale {args.scale} ({rows} orders)")
        print(f"backup (dump + gzip + sha256 + store): {backup_s:.2f} s, {manifest.size} bytes")
        print(f"archive pass (FLUSH BINARY LOGS + copy): {archive_s:.2f} s")
        print(f"restore --latest into a new node (install + load + replay 1500 orders): {restore_s:.2f} s")
        print(f"restore --to T into a new node (install + load + replay to T, 1000 of 1500): {pitr_s:.2f} s")
        print(f"recovery point: <= {args.interval:g} s interval + {archive_s:.2f} s pass; RDS PITR: 300 s")
        print("command: .venv/bin/python bench/backup_bench.py --scale", args.scale)
    finally:
        for node in (restored, server):
            if node is not None:
                node.stop()
                node.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
