"""The SQL models as files: headers, parsing, references, dependency order, and Spark translation."""

from __future__ import annotations

import pytest
import sqlglot

from lakefront.analytics.extract import EXTRACT_TABLES
from lakefront.analytics.models import (
    ModelError,
    closure,
    execution_order,
    load_models,
    model_files,
    parse_model,
    raw_tables,
    split_header,
)
from lakefront.analytics.pipeline import check_models

MARTS = {"mart_daily_sales", "mart_category_sales", "mart_product_sales", "mart_customer_cohorts",
         "mart_funnel_daily", "mart_inventory"}


def test_every_model_file_has_a_header_saying_what_it_computes_from_what_and_its_grain() -> None:
    files = model_files()
    assert set(files) >= MARTS
    for name, text in files.items():
        header, body = split_header(name, text)
        assert header.splitlines()[0].startswith(f"{name}:"), name
        assert "From:" in header and "Grain:" in header, name
        assert not body.startswith("--")


def test_every_model_parses_as_one_select_and_translates_to_spark_sql() -> None:
    for name, model in load_models().items():
        spark = sqlglot.transpile(model.sql, read="duckdb", write="spark",
                                  unsupported_level=sqlglot.ErrorLevel.RAISE)
        assert len(spark) == 1 and spark[0].lstrip().upper().startswith(("SELECT", "WITH")), name


def test_every_reference_resolves_to_a_model_or_an_extracted_raw_table() -> None:
    models = load_models()
    for model in models.values():
        assert model.models <= set(models)
        assert model.raw_tables <= set(EXTRACT_TABLES)
    assert raw_tables(models, models) == sorted(EXTRACT_TABLES)
    check_models()  # the pipeline's own check agrees
    # The clean layer is the only one that reads raw tables, one each.
    for name, model in models.items():
        assert bool(model.raw_tables) == name.startswith("clean_")
        if model.raw_tables:
            assert model.raw_tables == {name.removeprefix("clean_")}


def test_the_order_runs_every_model_after_every_model_it_reads() -> None:
    models = load_models()
    order = execution_order(models)
    assert sorted(order) == sorted(models)
    position = {name: i for i, name in enumerate(order)}
    for name, model in models.items():
        for dependency in model.models:
            assert position[dependency] < position[name], (dependency, name)


def test_asking_for_one_mart_selects_exactly_it_and_what_it_reads() -> None:
    models = load_models()
    assert execution_order(models, ["mart_daily_sales"]) == [
        "clean_order_lines", "clean_orders", "sales_orders", "mart_daily_sales"]
    assert raw_tables(models, closure(models, ["mart_daily_sales"])) == ["order_lines", "orders"]


def test_ctes_are_not_dependencies_but_the_tables_inside_them_are() -> None:
    text = "-- m: x\n-- Grain: y\nWITH a AS (SELECT * FROM raw_orders) SELECT * FROM a JOIN b ON true"
    model = parse_model("m", text, known=["m", "b"])
    assert (model.models, model.raw_tables) == ({"b"}, {"orders"})


def test_a_cycle_is_reported_naming_a_model_in_it() -> None:
    files = {"a": "-- a: x\n-- Grain: one\nSELECT * FROM b", "b": "-- b: x\n-- Grain: one\nSELECT * FROM c",
             "c": "-- c: x\n-- Grain: one\nSELECT * FROM a", "d": "-- d: x\n-- Grain: one\nSELECT 1 AS one"}
    with pytest.raises(ModelError, match=r"model [abc]: dependency cycle"):
        load_models(files)


@pytest.mark.parametrize(("text", "message"), [
    ("SELECT 1", "must start with a -- header"),
    ("-- m: no grain here\nSELECT 1", "Grain:"),
    ("-- m: x\n-- Grain: one\nSELECT FROM WHERE (", "does not parse"),
    ("-- m: x\n-- Grain: one\nDELETE FROM raw_orders", "exactly one SELECT"),
    ("-- m: x\n-- Grain: one\nSELECT * FROM nowhere", "unknown table nowhere"),
])
def test_a_malformed_model_is_an_error_naming_it(text: str, message: str) -> None:
    with pytest.raises(ModelError, match=message) as caught:
        load_models({"m": text})
    assert str(caught.value).startswith("model m:")


def test_a_model_reading_a_table_the_extract_never_provides_stops_the_pipeline_naming_it() -> None:
    models = load_models({"m": "-- m: x\n-- Grain: one\nSELECT * FROM raw_cart_items"})
    with pytest.raises(ModelError, match=r"^model m: no extracted table cart_items in the lake"):
        check_models(models)


def test_an_unknown_model_asked_for_is_an_error_listing_the_marts() -> None:
    with pytest.raises(ModelError, match=r"unknown model 'mart_nope'.*mart_daily_sales"):
        execution_order(load_models(), ["mart_nope"])
