"""The lake's commit protocol over Iceberg: readers (ours, pyiceberg's, DuckDB's) see committed snapshots only.

A directory store and a SQLite catalog in a temp dir: the real table format, no server.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakefront.analytics.errors import CommitConflict
from lakefront.analytics.lake import Lake, raw_name
from lakefront.analytics.lake.maintenance import maintain
from lakefront.analytics.sql import LakeSQL
from lakefront.settings import Settings

ORDERS = raw_name("orders")


@pytest.fixture
def lake(tmp_path: Path) -> Any:
    with Lake(Settings(var_dir=tmp_path)) as opened:
        yield opened


def _store_file(lake: Lake, run_id: str, rows: dict[str, list[Any]], part: int = 1) -> str:
    key = lake.data_key(ORDERS, "2026-01-01", run_id, part)
    path = Path(lake.local_path(key) or "")
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(rows), path)
    return key


def _commit(lake: Lake, run_id: str, rows: dict[str, list[Any]], *, replace: bool = False) -> None:
    table = pa.table(rows)
    key = _store_file(lake, run_id, rows)
    base = lake.create(ORDERS, table.schema)
    lake.commit_files(base, [key], table.schema, replace=replace, properties={"run-id": run_id})


def _ids(lake: Lake) -> list[int]:
    return sorted(lake.read(ORDERS)["id"].to_pylist())


def _third_party_ids(lake: Lake, settings: Settings) -> tuple[list[int], list[int]]:
    """The same table through pyiceberg's own scan and DuckDB's iceberg_scan."""
    table = lake.load(ORDERS)
    assert table is not None
    ours = sorted(table.scan().to_arrow()["id"].to_pylist())
    with LakeSQL(settings) as sql:
        duck = sorted(sql.query(f"SELECT id FROM {ORDERS}").table["id"].to_pylist())
    return ours, duck


def test_files_stored_without_a_commit_are_invisible_to_every_reader(lake: Lake, tmp_path: Path) -> None:
    _commit(lake, "r1", {"id": [1, 2]})
    orphan = _store_file(lake, "r2", {"id": [3]}, part=2)
    assert lake.bucket.exists(orphan)
    keys, commit = lake.scan_keys(ORDERS) or ([], None)
    assert orphan not in keys and commit is not None and commit.rows == 2
    assert _ids(lake) == [1, 2]
    assert _third_party_ids(lake, lake.settings) == ([1, 2], [1, 2])


def test_a_replacing_commit_is_what_readers_see_and_the_earlier_snapshot_stays_readable(lake: Lake) -> None:
    _commit(lake, "r1", {"id": [1, 2]})
    _commit(lake, "r2", {"id": [3]})
    first = lake.history(ORDERS)[0]
    _commit(lake, "r3", {"id": [1, 2, 3, 4]}, replace=True)
    assert _ids(lake) == [1, 2, 3, 4]
    assert sorted(lake.read(ORDERS, first.snapshot_id)["id"].to_pylist()) == [1, 2]
    assert lake.last_commit(ORDERS).properties["run-id"] == "r3"  # type: ignore[union-attr]
    assert _third_party_ids(lake, lake.settings) == ([1, 2, 3, 4], [1, 2, 3, 4])


def test_a_column_added_later_reads_as_null_in_earlier_files(lake: Lake) -> None:
    _commit(lake, "r1", {"id": [1]})
    _commit(lake, "r2", {"id": [2], "note": ["new"]})
    assert lake.read(ORDERS).sort_by("id").to_pylist() == [{"id": 1, "note": None}, {"id": 2, "note": "new"}]
    schemas = [commit.schema.names for commit in lake.history(ORDERS)]
    assert schemas[-1] == ["id", "note"]


def test_a_commit_from_a_table_someone_committed_meanwhile_is_refused_and_adds_nothing(lake: Lake) -> None:
    _commit(lake, "r1", {"id": [1]})
    schema = pa.schema([("id", pa.int64())])
    first, second = lake.load(ORDERS), lake.load(ORDERS)
    assert first is not None and second is not None
    lake.commit_files(first, [_store_file(lake, "r2", {"id": [2]})], schema, replace=False, properties={})
    with pytest.raises(CommitConflict, match="another run committed raw_orders"):
        lake.commit_files(second, [_store_file(lake, "r3", {"id": [2]})], schema, replace=False, properties={})
    assert _ids(lake) == [1, 2]


def test_an_empty_lake_reads_as_an_empty_table(lake: Lake) -> None:
    assert lake.read(ORDERS).num_rows == 0
    assert lake.scan_keys(ORDERS) is None
    assert lake.last_commit(ORDERS) is None
    assert lake.tables() == {}


def test_a_mart_takes_its_new_schema_columns_dropped_reordered_or_retyped(lake: Lake) -> None:
    lake.commit_rows("mart_x", pa.table({"a": [1], "b": ["x"]}), {"content-sha256": "1"})
    lake.commit_rows("mart_x", pa.table({"c": [2.5], "a": [2]}), {"content-sha256": "2"})
    assert lake.read("mart_x").to_pylist() == [{"c": 2.5, "a": 2}]
    lake.commit_rows("mart_x", pa.table({"c": ["text"], "a": [3]}), {"content-sha256": "3"})
    assert lake.read("mart_x").to_pylist() == [{"c": "text", "a": 3}]
    assert lake.last_commit("mart_x").properties["content-sha256"] == "3"  # type: ignore[union-attr]


def test_maintenance_expires_old_snapshots_and_deletes_only_old_unreferenced_files(lake: Lake) -> None:
    _commit(lake, "r1", {"id": [1]})
    _commit(lake, "r2", {"id": [2]})
    old_orphan = _store_file(lake, "killed", {"id": [9]}, part=3)
    young_orphan = _store_file(lake, "running", {"id": [8]}, part=4)
    hour_ago = time.time() - 3600
    os.utime(lake.local_path(old_orphan) or "", (hour_ago, hour_ago))
    # A retention of 30 minutes, two hours from now: both snapshots are old; the young orphan is 2 h old only
    # as the clock runs here, so it is given a fresh mtime relative to that clock.
    now = time.time() + 2 * 3600
    os.utime(lake.local_path(young_orphan) or "", (now - 60, now - 60))
    report = maintain(lake, 1800, now=now)
    assert report.expired == {ORDERS: 1}
    assert old_orphan in report.deleted and not lake.bucket.exists(old_orphan)
    assert lake.bucket.exists(young_orphan) and report.kept_young >= 1
    assert _ids(lake) == [1, 2]  # the current snapshot reads in full: nothing it names was deleted
    assert len(lake.history(ORDERS)) == 1
    assert maintain(lake, 1800, now=now).deleted == []
