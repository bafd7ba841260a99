"""The analytics pipeline as `lakefront up` runs it: the scheduled extract fills the lake."""

from __future__ import annotations

import json
import time
from typing import Any

import pyarrow.compute as pc
import pytest
import sqlalchemy as sa

from lakefront.analytics.extract import EXTRACT_TABLES, parse_iso
from lakefront.analytics.lake import Lake, raw_name
from lakefront.data.endpoints import reader_url
from lakefront.settings import Settings

from .conftest import Stack

pytestmark = pytest.mark.e2e


def wait_for_status(stack: Stack, component: str, text: str, timeout: float = 120) -> dict[str, Any]:
    """Poll `lakefront status --json` until the component's detail says `text`; fail on a failing row."""
    deadline = time.monotonic() + timeout
    while True:
        report = json.loads(stack.lakefront("status", "--json").stdout)
        row: dict[str, Any] = next(c for c in report["components"] if c["id"] == component)
        if text in row["detail"]:
            return row
        assert row["status"] != "failing", row
        assert time.monotonic() < deadline, f"{component} never reported {text!r}: {row}"
        time.sleep(1)


def test_the_scheduled_extract_puts_every_order_in_the_lake_exactly_once(stack: Stack) -> None:
    settings = Settings.model_validate(stack.state()["settings"])
    # Every table, not just the first: a run commits table by table, and orders come after customers.
    row = wait_for_status(stack, "extract", f"{len(EXTRACT_TABLES)} tables in the lake")
    assert row["status"] == "ok", row

    with Lake(settings) as lake:
        # One snapshot for both: the rows and the cutoff its commit recorded.
        commit = lake.last_commit(raw_name("orders"))
        assert commit is not None
        extracted = lake.read(raw_name("orders"), commit.snapshot_id)
        customers = lake.read(raw_name("customers"))
    cutoff = parse_iso(commit.properties["cutoff"])
    engine = sa.create_engine(reader_url(settings))
    try:
        with engine.connect() as conn:
            source_ids = {r[0] for r in conn.execute(
                sa.text("SELECT id FROM orders WHERE updated_at <= :cutoff"),
                {"cutoff": cutoff.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")})}
    finally:
        engine.dispose()
    ids = extracted.column("id").to_pylist()
    assert len(ids) == len(set(ids))  # no order twice: nothing in the store updates orders after checkout
    assert set(ids) == source_ids
    assert customers.num_rows > 0 and "password_hash" not in customers.column_names
    assert pc.sum(extracted.column("total_cents")).as_py() > 0


def test_the_scheduled_pipeline_processes_the_lake_into_marts(stack: Stack) -> None:
    settings = Settings.model_validate(stack.state()["settings"])
    wait_for_status(stack, "emr", "marts in the lake")

    with Lake(settings) as lake:
        daily = lake.read("mart_daily_sales")
        assert lake.last_commit("mart_daily_sales") is not None
        orders = lake.read(raw_name("orders"))
    assert daily.num_rows > 0
    # The mart was computed from some committed extract; every order it counts is in the lake.
    kept = orders.filter(pc.not_equal(orders.column("status"), "cancelled"))
    assert pc.sum(daily.column("orders")).as_py() <= kept.num_rows
    assert pc.sum(daily.column("revenue_cents")).as_py() <= pc.sum(kept.column("total_cents")).as_py()
