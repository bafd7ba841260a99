"""A mart committed by an older version of its model is not served until the pipeline commits it again."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lakefront.analytics import lake
from lakefront.analytics.dashboards import load_catalog, mart_columns
from lakefront.analytics.serving import Filters, QueryService
from lakefront.data.objects import DirectoryStore

PREFIX = "lake"


def _commit(store: DirectoryStore, model: str, table: pa.Table, run_id: str) -> None:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    key = lake.mart_key(PREFIX, model, run_id)
    store.put(key, buffer.getvalue(), "application/octet-stream")
    lake.commit_manifest(store, PREFIX, {
        "version": lake.MANIFEST_VERSION, "zone": lake.MARTS_ZONE, "table": model, "run_id": run_id,
        "files": [{"key": key, "rows": table.num_rows, "bytes": len(buffer.getvalue())}], "rows": table.num_rows,
        "schema": [{"name": f.name, "type": str(f.type)} for f in table.schema], "committed_at": run_id})


def _inventory(columns: list[str]) -> pa.Table:
    row = {"product_id": 1, "name": "Mug", "category_id": 3, "category_name": "Kitchen", "stock": 2,
           "is_active": True, "as_of_day": None, "units_sold_30d": 4, "days_of_cover": 15, "low_stock": True}
    return pa.table({name: [row[name]] for name in columns})


def test_an_outdated_mart_reads_as_no_data_and_the_recommitted_one_is_served(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path / "objects")
    current = mart_columns()["mart_inventory"]
    assert "category_id" in current
    dataset = load_catalog().datasets["low_stock"]
    service = QueryService(store, PREFIX, refresh_s=0)
    try:
        _commit(store, "mart_inventory", _inventory([c for c in current if c != "category_id"]), "2026-11-01T00")
        old = service.query(dataset, Filters(None, None, None), applied=[])
        assert old.empty and old.rows == []  # not an error: "no data yet"
        _commit(store, "mart_inventory", _inventory(current), "2026-11-02T00")
        new = service.query(dataset, Filters(None, None, None), applied=[])
        assert not new.empty and [r["product_id"] for r in new.rows] == [1]
    finally:
        service.close()
