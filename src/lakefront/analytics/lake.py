"""The lake's layout, its manifests, and how readers see only committed data.

Layout, under the lake prefix (settings.extract.prefix, ``lake`` by default) in the object store:

    raw/<table>/dt=YYYY-MM-DD/<run_id>-part-NNNNN.<ext>       data files; dt = the run's date (UTC)
    _manifests/raw/<table>/<sequence:08d>-<run_id>.json      one per committed run of a table
    marts/<model>/<run_id>/part-00000.parquet                a processing run's output of one mart (zstd)
    _manifests/marts/<model>/<sequence:08d>-<run_id>.json    one per committed output of a mart

A data file is invisible until a manifest lists it: the manifest put is the commit point (one
atomic put, on a directory store and on S3 alike). A run killed before it leaves orphan data
files that no manifest names; readers ignore them and the next run starts again from the last
committed watermark, so every row version lands in the lake exactly once. Orphans are not deleted yet
(their run_id starts with the run's UTC start time, so a cleanup can tell their age from the key).

Generations: a full snapshot (the first run of a table, or ``lakefront extract --full``) starts a
new generation. Readers read the latest full snapshot and the incremental runs committed after it,
so a full run replaces, rather than duplicates, what readers see.

Manifest (JSON): version, table, run_id, sequence, generation, mode (full|incremental), format,
files [{key, rows, bytes, min_updated_at, max_updated_at}], rows, bytes, schema [{name, type}],
watermark_before and watermark_after ({updated_at, id} or null), cutoff, started_at, committed_at.

Marts: each committed output replaces the previous one (readers read the latest manifest only). Mart manifest:
version, zone ("marts"), table (the model), run_id, sequence, engine, files [{key, rows, bytes}], rows, bytes,
schema [{name, type}] (Arrow type names), content_sha256 (of the rows, sorted: equal outputs hash equal),
inputs ({raw table: sequence of its last committed manifest}), sql_sha256, started_at, committed_at.
"""

from __future__ import annotations

import io
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lakefront.analytics.formats import EXTENSIONS, read_bytes, schema_from_json
from lakefront.data.objects import ObjectStore

MANIFEST_VERSION = 1
_MANIFEST_NAME = re.compile(r"^(\d{8})-([A-Za-z0-9._=\-]+)\.json$")


def data_prefix(prefix: str, table: str) -> str:
    return f"{prefix}/raw/{table}/"


def data_key(prefix: str, table: str, dt: str, run_id: str, part: int, fmt: str) -> str:
    return f"{prefix}/raw/{table}/dt={dt}/{run_id}-part-{part:05d}.{EXTENSIONS[fmt]}"


def manifest_prefix(prefix: str, table: str, zone: str = "raw") -> str:
    """Where the manifests of `table` in `zone` (raw: extracts; marts: processing outputs) live."""
    return f"{prefix}/_manifests/{zone}/{table}/"


def manifest_key(prefix: str, table: str, sequence: int, run_id: str, zone: str = "raw") -> str:
    return f"{manifest_prefix(prefix, table, zone)}{sequence:08d}-{run_id}.json"


@dataclass(frozen=True)
class Watermark:
    """The (updated_at, id) of the last row extracted; the next run reads rows strictly after it."""

    updated_at: str  # ISO-8601 UTC with microseconds, as in the manifests
    id: int

    def to_json(self) -> dict[str, Any]:
        return {"updated_at": self.updated_at, "id": self.id}

    @classmethod
    def from_json(cls, value: dict[str, Any] | None) -> Watermark | None:
        return None if value is None else cls(str(value["updated_at"]), int(value["id"]))


def manifest_keys(store: ObjectStore, prefix: str, table: str, zone: str = "raw") -> list[tuple[int, str]]:
    """(sequence, key) of every committed manifest of `table` in `zone`, oldest first."""
    found = []
    for info in store.list(manifest_prefix(prefix, table, zone)):
        match = _MANIFEST_NAME.match(info.key.rsplit("/", 1)[-1])
        if match:
            found.append((int(match.group(1)), info.key))
    return sorted(found)


def load_manifest(store: ObjectStore, key: str) -> dict[str, Any]:
    data, _ = store.get(key)
    manifest: dict[str, Any] = json.loads(data)
    return manifest


def manifests(store: ObjectStore, prefix: str, table: str) -> list[dict[str, Any]]:
    """Every committed manifest of `table`, oldest first."""
    return [load_manifest(store, key) for _, key in manifest_keys(store, prefix, table)]


def current_manifests(store: ObjectStore, prefix: str, table: str) -> list[dict[str, Any]]:
    """The manifests readers see: the latest full snapshot and the incremental runs after it."""
    found = manifests(store, prefix, table)
    fulls = [i for i, m in enumerate(found) if m["mode"] == "full"]
    if not fulls:
        return []
    latest = found[fulls[-1]]
    return [m for m in found[fulls[-1]:] if m["generation"] == latest["generation"]]


def last_manifest(store: ObjectStore, prefix: str, table: str, zone: str = "raw") -> dict[str, Any] | None:
    keys = manifest_keys(store, prefix, table, zone)
    return load_manifest(store, keys[-1][1]) if keys else None


class CommitConflict(RuntimeError):
    """Another run committed the table since this one read its watermark; this run must not commit."""


def commit_manifest(store: ObjectStore, prefix: str, manifest: dict[str, Any], *, after: int | None = None) -> str:
    """Publish a run: one atomic put of its manifest, numbered after the last committed one.

    The manifest's ``zone`` (default raw) says whose manifests it joins: raw extracts or marts.
    `after` is the sequence the run started from (0: none). If another run committed meanwhile, committing
    too would duplicate rows, so CommitConflict is raised instead. The check and the put are two requests,
    so this narrows the race rather than closing it: run one extractor at a time (the scheduler does).
    """
    zone = manifest.get("zone", "raw")
    keys = manifest_keys(store, prefix, manifest["table"], zone)
    latest = keys[-1][0] if keys else 0
    if after is not None and latest != after:
        raise CommitConflict(f"another extract committed {manifest['table']} (run {latest}) while this one ran")
    sequence = latest + 1
    manifest["sequence"] = sequence
    key = manifest_key(prefix, manifest["table"], sequence, manifest["run_id"], zone)
    store.put(key, json.dumps(manifest, indent=1).encode(), "application/json")
    return key


def committed_files(store: ObjectStore, prefix: str, table: str) -> list[str]:
    """Keys of the data files readers should read: those of the current generation's committed runs."""
    return [f["key"] for m in current_manifests(store, prefix, table) for f in m["files"]]


def read_table(store: ObjectStore, prefix: str, table: str) -> pa.Table:
    """Every committed row version of the current generation, as one table.

    Files written before a column was added read that column as null: schemas are unified by name.
    An empty lake gives an empty table without columns.
    """
    wanted = [(entry["key"], manifest["format"], schema_from_json(manifest["schema"]))
              for manifest in current_manifests(store, prefix, table) for entry in manifest["files"]]

    def fetch(item: tuple[str, str, pa.Schema]) -> pa.Table:
        key, fmt, schema = item
        data, _ = store.get(key)
        return read_bytes(fmt, data, schema)

    # Daily partitions make many small files: fetching them in parallel hides the object store's latency.
    with ThreadPoolExecutor(max_workers=8) as pool:
        parts = list(pool.map(fetch, wanted))
    if not parts:
        return pa.table({})
    return pa.concat_tables(parts, promote_options="default")


MARTS_ZONE = "marts"


def mart_key(prefix: str, model: str, run_id: str) -> str:
    return f"{prefix}/marts/{model}/{run_id}/part-00000.parquet"


def last_mart_manifest(store: ObjectStore, prefix: str, model: str) -> dict[str, Any] | None:
    """The manifest of the mart's latest committed output, or None if it was never processed."""
    return last_manifest(store, prefix, model, MARTS_ZONE)


def mart_models(store: ObjectStore, prefix: str) -> list[str]:
    """Names of the marts with at least one committed output."""
    found = set()
    for info in store.list(f"{prefix}/_manifests/{MARTS_ZONE}/"):
        parts = info.key.split("/")
        if _MANIFEST_NAME.match(parts[-1]):
            found.add(parts[-2])
    return sorted(found)


def read_mart(store: ObjectStore, prefix: str, model: str) -> pa.Table:
    """The mart's latest committed output; FileNotFoundError naming it if it was never processed."""
    manifest = last_mart_manifest(store, prefix, model)
    if manifest is None:
        raise FileNotFoundError(f"mart {model} has no committed output yet: run `lakefront process`")
    parts = [pq.read_table(io.BytesIO(store.get(entry["key"])[0])) for entry in manifest["files"]]
    return pa.concat_tables(parts) if len(parts) > 1 else parts[0]
