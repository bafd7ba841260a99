"""The Glue Data Catalog over the marts: each mart's table points at its latest committed output.

A mart's runs accumulate under lake/marts/<model>/<run_id>/ and only the manifests say which one is
current; Athena reads every file under a table's location, so a table over lake/marts/<model>/ would
count each row once per run. After a processing run commits, `publish_marts` moves each table's location
to the run that its newest manifest names: the same commit point the app tier's readers use.
"""

from __future__ import annotations

from typing import Any

from lakefront.analytics import lake
from lakefront.data.objects import ObjectStore


def run_prefix(manifest: dict[str, Any]) -> str:
    """The key prefix (ending in /) of the committed run's files, from its manifest."""
    keys = {entry["key"].rsplit("/", 1)[0] for entry in manifest["files"]}
    if len(keys) != 1:
        raise ValueError(f"manifest of {manifest.get('table')} names files in {len(keys)} directories, not 1")
    return f"{keys.pop()}/"


def publish_marts(glue: Any, store: ObjectStore, bucket: str, prefix: str, database: str,
                  models: list[str] | None = None) -> dict[str, str]:
    """Point every mart's table at its committed run; returns {table: new location} for the tables it moved."""
    moved = {}
    for model in models or lake.mart_models(store, prefix):
        manifest = lake.last_mart_manifest(store, prefix, model)
        if manifest is None:
            continue
        location = f"s3://{bucket}/{run_prefix(manifest)}"
        table = glue.get_table(DatabaseName=database, Name=model)["Table"]
        descriptor = dict(table["StorageDescriptor"])
        if descriptor.get("Location") == location:
            continue
        descriptor["Location"] = location
        # UpdateTable takes a TableInput: the table's own fields, without what Glue computes.
        keep = ("Name", "Description", "Owner", "Retention", "PartitionKeys", "TableType", "Parameters")
        update = {key: table[key] for key in keep if key in table} | {"StorageDescriptor": descriptor}
        glue.update_table(DatabaseName=database, TableInput=update)
        moved[model] = location
    return moved
