"""The lake's commit protocol: readers see committed runs of the current generation, nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lakefront.analytics import lake
from lakefront.analytics.formats import schema_to_json
from lakefront.data.objects import DirectoryStore

PREFIX = "lake"


def _put_run(store: DirectoryStore, tmp: Path, run_id: str, mode: str, generation: int, rows: dict[str, list[Any]],
             *, commit: bool = True) -> str:
    table = pa.table(rows)
    path = tmp / f"{run_id}.parquet"
    pq.write_table(table, path)
    key = lake.data_key(PREFIX, "orders", "2026-01-01", run_id, 1, "parquet")
    store.put_file(key, path, "application/vnd.apache.parquet")
    if commit:
        lake.commit_manifest(store, PREFIX, {
            "table": "orders", "run_id": run_id, "generation": generation, "mode": mode, "format": "parquet",
            "files": [{"key": key, "rows": table.num_rows}], "rows": table.num_rows,
            "schema": schema_to_json(table.schema)})
    return key


def test_files_without_a_manifest_are_invisible_to_readers(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path / "objects")
    committed = _put_run(store, tmp_path, "r1", "full", 1, {"id": [1, 2]})
    orphan = _put_run(store, tmp_path, "r2", "incremental", 1, {"id": [3]}, commit=False)
    assert store.exists(orphan)
    assert lake.committed_files(store, PREFIX, "orders") == [committed]
    assert lake.read_table(store, PREFIX, "orders")["id"].to_pylist() == [1, 2]


def test_readers_start_at_the_latest_full_snapshot(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path / "objects")
    _put_run(store, tmp_path, "r1", "full", 1, {"id": [1, 2]})
    _put_run(store, tmp_path, "r2", "incremental", 1, {"id": [3]})
    _put_run(store, tmp_path, "r3", "full", 2, {"id": [1, 2, 3]})
    _put_run(store, tmp_path, "r4", "incremental", 2, {"id": [4]})
    assert sorted(lake.read_table(store, PREFIX, "orders")["id"].to_pylist()) == [1, 2, 3, 4]
    assert [m["sequence"] for m in lake.manifests(store, PREFIX, "orders")] == [1, 2, 3, 4]
    assert [m["run_id"] for m in lake.current_manifests(store, PREFIX, "orders")] == ["r3", "r4"]


def test_a_column_added_later_reads_as_null_in_earlier_files(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path / "objects")
    _put_run(store, tmp_path, "r1", "full", 1, {"id": [1]})
    _put_run(store, tmp_path, "r2", "incremental", 1, {"id": [2], "note": ["new"]})
    table = lake.read_table(store, PREFIX, "orders").sort_by("id")
    assert table.to_pylist() == [{"id": 1, "note": None}, {"id": 2, "note": "new"}]


def test_an_empty_lake_reads_as_an_empty_table(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path / "objects")
    assert lake.read_table(store, PREFIX, "orders").num_rows == 0
    assert lake.committed_files(store, PREFIX, "orders") == []
    assert lake.last_manifest(store, PREFIX, "orders") is None
