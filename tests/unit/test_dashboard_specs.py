"""Dashboard definitions: the shipped ones load, and each kind of mistake is refused in one line naming the field."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from lakefront.analytics.dashboards import DATASETS_FILE, DashboardError, definition_files, load_catalog
from lakefront.analytics.dashboards.spec import Metric
from lakefront.analytics.serving import FilterError, kpi_rows, parse_filters

DATASETS = '''
[daily]
mart = "mart_daily_sales"
date_column = "day"

[by_category]
filters = ["date", "category"]
sql = """
SELECT c.slug AS category_slug, SUM(s.revenue_cents) AS revenue_cents
FROM mart_category_sales AS s JOIN mart_categories AS c ON c.category_id = s.category_id
WHERE (CAST($date_from AS DATE) IS NULL OR s.day >= CAST($date_from AS DATE))
  AND (CAST($date_to AS DATE) IS NULL OR s.day <= CAST($date_to AS DATE))
  AND (CAST($category_id AS BIGINT) IS NULL OR s.category_id = CAST($category_id AS BIGINT))
GROUP BY c.slug
"""
'''

DASHBOARD = '''
id = "sales"
title = "Sales"
dates = "mart_daily_sales.day"

[[filters]]
id = "date"
type = "date_range"
default_days = 30

[[filters]]
id = "category"
type = "category"

[[visuals]]
id = "revenue"
title = "Revenue"
type = "line"
dataset = "daily"
filters = ["date"]
encoding = { x = "day", y = "revenue_cents" }

[[visuals]]
id = "categories"
title = "By category"
type = "bar"
dataset = "by_category"
filters = ["date"]
width = 4
encoding = { x = "category_slug", y = "revenue_cents" }
format = { revenue_cents = "cents" }
drill = { filter = "category", field = "category_slug" }
'''


def _load(dashboard: str = DASHBOARD, datasets: str = DATASETS) -> Any:
    return load_catalog({DATASETS_FILE: datasets, "sales.toml": dashboard})


def _error(dashboard: str = DASHBOARD, datasets: str = DATASETS) -> str:
    with pytest.raises(DashboardError) as caught:
        _load(dashboard, datasets)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_the_shipped_dashboards_load_with_every_visual_kind() -> None:
    catalog = load_catalog()
    assert list(catalog.dashboards) == ["sales", "customers", "funnel", "inventory"]
    kinds = {v.type for d in catalog.dashboards.values() for v in d.spec.visuals}
    assert kinds == {"kpi", "line", "bar", "table", "heatmap"}
    assert set(definition_files()) == {DATASETS_FILE, "sales.toml", "customers.toml", "funnel.toml",
                                       "inventory.toml"}
    sales = catalog.dashboards["sales"]
    assert [m.id for m in sales.visuals["kpis"].metrics] == ["revenue", "orders", "average_order_value", "customers"]


def test_a_valid_definition_gives_datasets_with_their_parameters_and_columns() -> None:
    catalog = _load()
    daily, by_category = catalog.datasets["daily"], catalog.datasets["by_category"]
    assert daily.filters == ("date",) and daily.parameters == ("date_from", "date_to")
    assert "$date_from" in daily.sql and "2026" not in daily.sql
    assert by_category.columns == ["category_slug", "revenue_cents"]
    assert by_category.marts == ("mart_categories", "mart_category_sales")
    assert catalog.dashboards["sales"].marts == ("mart_categories", "mart_category_sales", "mart_daily_sales")


@pytest.mark.parametrize(("old", "new", "message"), [
    ('dataset = "by_category"', 'dataset = "x"', "dashboard sales: visuals[1].dataset: unknown dataset 'x'"),
    ('width = 4', 'width = 13', "dashboard sales: visuals[1].width: Input should be less than or equal to 12"),
    ('type = "bar"', 'type = "pie"', "dashboard sales: visuals[1].type: Input should be 'kpi', 'line', 'bar'"),
    ('filters = ["date"]\nencoding = { x = "day"', 'filters = ["region"]\nencoding = { x = "day"',
     "dashboard sales: visuals[0].filters[0]: Input should be 'date' or 'category'"),
    ('filters = ["date"]\nencoding = { x = "day"', 'filters = ["category"]\nencoding = { x = "day"',
     "dashboard sales: visuals[0].filters[0]: dataset 'daily' does not take the category filter"),
    ('y = "revenue_cents" }\n\n[[visuals]]', 'y = "revenue" }\n\n[[visuals]]',
     "dashboard sales: visuals[0].encoding.y: unknown column 'revenue' in dataset 'daily'"),
    ('encoding = { x = "day", y = "revenue_cents" }', 'encoding = { x = "day" }',
     "dashboard sales: visuals[0].encoding.y: a line visual needs one"),
    ('format = { revenue_cents = "cents" }', 'format = { revenue_cents = "euros" }',
     "dashboard sales: visuals[1].format.revenue_cents: Input should be 'cents', 'count'"),
    ('format = { revenue_cents = "cents" }', 'format = { profit = "cents" }',
     "dashboard sales: visuals[1].format.profit: unknown column 'profit'"),
    ('field = "category_slug" }', 'field = "slug" }',
     "dashboard sales: visuals[1].drill.field: unknown column 'slug' in dataset 'by_category'"),
    ('id = "categories"', 'id = "revenue"', "dashboard sales: visuals[1].id: duplicate visual 'revenue'"),
    ('id = "category"\ntype = "category"', 'id = "category"\ntype = "date_range"',
     "dashboard sales: filters[1].type: filter category is a category"),
    ('dates = "mart_daily_sales.day"', 'dates = "mart_daily_sales.when"',
     "dashboard sales: dates: unknown mart column 'mart_daily_sales.when'"),
    ('id = "sales"', 'id = "revenue"', "dashboard revenue: id: must be the file's name ('sales')"),
    ('title = "Sales"\n', '', "dashboard sales: title: Field required"),
    ('title = "Sales"\n', 'title = "Sales"\ncolour = "red"\n',
     "dashboard sales: colour: Extra inputs are not permitted"),
])
def test_each_kind_of_dashboard_mistake_is_refused_naming_the_field(old: str, new: str, message: str) -> None:
    assert old in DASHBOARD
    assert _error(DASHBOARD.replace(old, new, 1)).startswith(message)


def test_a_drill_needs_the_filter_it_sets() -> None:
    without = DASHBOARD.replace('[[filters]]\nid = "category"\ntype = "category"\n', "")
    assert _error(without) == "dashboard sales: visuals[1].drill.filter: the dashboard has no category filter"


def test_a_kpi_visual_needs_metrics_over_a_dataset_with_periods() -> None:
    kpi = DASHBOARD + '\n[[visuals]]\nid = "k"\ntitle = "K"\ntype = "kpi"\ndataset = "daily"\n'
    assert _error(kpi) == "dashboard sales: visuals[2].metrics: a kpi visual lists its metrics"
    kpi += 'metrics = [{ id = "revenue", label = "Revenue", column = "revenue_cents", format = "cents" }]\n'
    assert _error(kpi).startswith("dashboard sales: visuals[2].dataset: a kpi dataset has a 'period' column")


@pytest.mark.parametrize(("old", "new", "message"), [
    ('FROM mart_category_sales AS s', 'FROM mart_nope AS s',
     "dataset by_category: sql: unknown mart 'mart_nope' (datasets read marts only)"),
    ('FROM mart_category_sales AS s', 'FROM raw_orders AS s', "dataset by_category: sql: unknown mart 'raw_orders'"),
    ('SELECT c.slug AS category_slug,', 'SELECT *,', "dataset by_category: sql: name every output column once"),
    ('GROUP BY c.slug', 'GROUP BY c.slug; DELETE FROM mart_categories',
     "dataset by_category: sql: must be exactly one"),
    ('GROUP BY c.slug', 'GROUP BY (', "dataset by_category: sql: does not parse"),
    ('s.category_id = CAST($category_id AS BIGINT))', 's.category_id = $region)',
     "dataset by_category: sql: unknown parameter $region"),
    ('filters = ["date", "category"]', 'filters = ["date"]',
     "dataset by_category: filters: the sql reads the category filter's parameters; declare it"),
    ('AND (CAST($date_to AS DATE) IS NULL OR s.day <= CAST($date_to AS DATE))', '',
     "dataset by_category: filters: takes date but the sql never reads $date_to"),
    ('mart = "mart_daily_sales"', 'mart = "mart_weekly_sales"',
     "dataset daily: mart: unknown mart 'mart_weekly_sales'"),
    ('date_column = "day"', 'date_column = "date"',
     "dataset daily: date_column: mart_daily_sales has no column 'date'"),
    ('date_column = "day"', 'date_column = "day"\nsql = "SELECT 1 AS one"',
     "dataset daily: give exactly one of mart or sql"),
])
def test_each_kind_of_dataset_mistake_is_refused_naming_the_field(old: str, new: str, message: str) -> None:
    assert old in DATASETS
    assert _error(datasets=DATASETS.replace(old, new, 1)).startswith(message)


def test_malformed_toml_names_the_file() -> None:
    assert _error('id = "sales"\ntitle = ').startswith("sales.toml: not valid TOML")


def test_the_shipped_files_are_plain_toml_tables() -> None:
    for name, text in definition_files().items():
        assert isinstance(tomllib.loads(text), dict), name


def test_filters_are_checked_for_form_naming_the_parameter() -> None:
    assert parse_filters("2026-01-01", "2026-01-31", "kitchen").category == "kitchen"
    assert parse_filters(None, "", "") == parse_filters(None, None, None)
    for args, field in [(("2026-1-1", None, None), "from"), (("2026-02-30", None, None), "from"),
                        ((None, "soon", None), "to"), (("2026-02-01", "2026-01-31", None), "to"),
                        ((None, None, "Kitchen Stuff"), "category"), ((None, None, "x' OR 1=1 --"), "category")]:
        with pytest.raises(FilterError) as caught:
            parse_filters(*args)
        assert caught.value.field == field, args


def test_kpi_rows_compare_each_metric_with_the_previous_period() -> None:
    metrics = [Metric(id="revenue", label="Revenue", column="revenue_cents", format="cents"),
               Metric(id="aov", label="AOV", column="aov", format="cents")]
    rows, periods = kpi_rows([
        {"period": "current", "period_from": "2026-01-11", "period_to": "2026-01-20", "revenue_cents": 1500,
         "aov": 500},
        {"period": "previous", "period_from": "2026-01-01", "period_to": "2026-01-10", "revenue_cents": 1000,
         "aov": None}], metrics)
    assert rows == [
        {"metric": "revenue", "label": "Revenue", "value": 1500, "previous": 1000, "change_pct": 50.0,
         "format": "cents"},
        {"metric": "aov", "label": "AOV", "value": 500, "previous": None, "change_pct": None, "format": "cents"}]
    assert periods == {"period": {"from": "2026-01-11", "to": "2026-01-20"},
                       "previous_period": {"from": "2026-01-01", "to": "2026-01-10"}}
