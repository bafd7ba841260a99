"""`lakefront lake maintain`: expire old snapshots, then delete the files nothing live names.

Expiry: snapshots older than settings.lake.retention_s are removed from each table's metadata (the current one
always stays), so time travel reaches back that far and no further.

Orphans: every object under the lake's prefix that no remaining snapshot, manifest, manifest list or metadata
file names, and that is older than the retention, is deleted. That covers the data files of killed runs, the
files only expired snapshots named, tables dropped from the catalog, and an earlier layout's files (the JSON
manifests of before Iceberg). The age bound is what keeps a run in flight safe: its files are not committed
yet, so the retention must exceed the longest run. If any table cannot be read, nothing is deleted.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from lakefront.analytics.errors import LakeError

if TYPE_CHECKING:
    from pyiceberg.table import Table

    from lakefront.analytics.lake import Lake

log = logging.getLogger("lakefront.analytics")


@dataclass
class MaintenanceReport:
    expired: dict[str, int] = field(default_factory=dict)
    """Snapshots expired, per table."""
    deleted: list[str] = field(default_factory=list)
    """Keys of the files deleted."""
    kept_young: int = 0
    """Unreferenced files younger than the retention (perhaps a run in flight), left alone."""
    bytes_deleted: int = 0

    def lines(self) -> list[str]:
        expired = sum(self.expired.values())
        return [f"expired {expired} snapshot(s) in {len(self.expired)} table(s)",
                f"deleted {len(self.deleted)} unreferenced file(s), {self.bytes_deleted:,} bytes; "
                f"{self.kept_young} younger than the retention kept"]


def referenced_keys(lake: Lake, table: Table) -> set[str]:
    """Every bucket key the table's metadata names: its metadata files, manifest lists, manifests, data files."""
    io = table.io
    uris = {table.metadata_location, *(entry.metadata_file for entry in table.metadata.metadata_log)}
    for snapshot in table.metadata.snapshots:
        uris.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(io):
            uris.add(manifest.manifest_path)
            uris.update(entry.data_file.file_path for entry in manifest.fetch_manifest_entry(io))
    uris.update(stats.statistics_path for stats in table.metadata.statistics)
    return {lake.key(uri) for uri in uris}


def maintain(lake: Lake, retention_s: float | None = None, *, now: float | None = None) -> MaintenanceReport:
    """Expire snapshots and delete unreferenced files older than `retention_s` (default: the settings')."""
    retention = lake.settings.lake.retention_s if retention_s is None else retention_s
    now = time.time() if now is None else now
    cutoff = now - retention
    report = MaintenanceReport()
    referenced: set[str] = set()
    for name in sorted(lake.tables()):
        table = lake.load(name)
        if table is None:  # dropped since the listing: its files are orphans like any other
            continue
        old = [s.snapshot_id for s in table.snapshots()
               if s.timestamp_ms < cutoff * 1000 and s.snapshot_id != table.metadata.current_snapshot_id]
        if old:
            try:
                table.maintenance.expire_snapshots().by_ids(old).commit()
            except Exception as exc:
                raise LakeError(f"cannot expire snapshots of {name}: {str(exc).splitlines()[0]}") from exc
            report.expired[name] = len(old)
            table = lake.load(name)
            assert table is not None
        referenced |= referenced_keys(lake, table)
    for info in lake.bucket.list(f"{lake.prefix}/"):
        if info.key in referenced:
            continue
        if info.modified >= cutoff:
            report.kept_young += 1
            continue
        lake.bucket.delete(info.key)
        report.deleted.append(info.key)
        report.bytes_deleted += info.size
    log.info("lake maintain: retention %.0fs (before %s): %s", retention,
             datetime.fromtimestamp(cutoff, UTC).isoformat(timespec="seconds"), "; ".join(report.lines()))
    return report
