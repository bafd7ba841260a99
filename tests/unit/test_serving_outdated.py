"""A mart committed by an older version of its model is not served until the pipeline commits it again."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from lakefront.analytics.dashboards import load_catalog, mart_columns
from lakefront.analytics.lake import Lake
from lakefront.analytics.serving import Filters, QueryService
from lakefront.settings import Settings


def _inventory(columns: list[str]) -> pa.Table:
    row = {"product_id": 1, "name": "Mug", "category_id": 3, "category_name": "Kitchen", "stock": 2,
           "is_active": True, "as_of_day": None, "units_sold_30d": 4, "days_of_cover": 15, "low_stock": True}
    types = {"as_of_day": pa.date32(), "is_active": pa.bool_(), "low_stock": pa.bool_(), "name": pa.string(),
             "category_name": pa.string()}
    return pa.table({name: pa.array([row[name]], types.get(name, pa.int64())) for name in columns})


def test_an_outdated_mart_reads_as_no_data_and_the_recommitted_one_is_served(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path)
    current = mart_columns()["mart_inventory"]
    assert "category_id" in current
    dataset = load_catalog().datasets["low_stock"]
    service = QueryService(Lake(settings), refresh_s=0)
    try:
        with Lake(settings) as lake:
            lake.commit_rows("mart_inventory", _inventory([c for c in current if c != "category_id"]), {})
        old = service.query(dataset, Filters(None, None, None), applied=[])
        assert old.empty and old.rows == []  # not an error: "no data yet"
        with Lake(settings) as lake:
            lake.commit_rows("mart_inventory", _inventory(current), {"run-id": "r2"})
        new = service.query(dataset, Filters(None, None, None), applied=[])
        assert not new.empty and [r["product_id"] for r in new.rows] == [1]
        assert new.run_id == "r2"
    finally:
        service.close()
