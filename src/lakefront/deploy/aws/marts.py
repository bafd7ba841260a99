"""The marts' columns as the Glue Data Catalog and QuickSight see them.

The marts are Parquet written by the processing runner; these are the Parquet schemas it writes, in Glue's
and QuickSight's type names. tests/integration/test_aws_services.py processes a small lake and checks that every
mart here has exactly these columns and types, so a model change that alters a mart fails there first.
"""

from __future__ import annotations

MARTS: dict[str, tuple[tuple[str, str], ...]] = {
    "mart_categories": (("category_id", "bigint"), ("slug", "string"), ("name", "string"),
                        ("active_products", "bigint"), ("stock_units", "bigint")),
    "mart_category_sales": (("day", "date"), ("category_id", "bigint"), ("category_name", "string"),
                            ("orders", "bigint"), ("units", "bigint"), ("revenue_cents", "bigint")),
    "mart_customer_cohorts": (("cohort_month", "date"), ("months_since", "bigint"), ("active_customers", "bigint"),
                              ("cohort_size", "bigint"), ("retention", "double")),
    "mart_customer_sales_daily": (("day", "date"), ("customer_id", "bigint"), ("category_id", "bigint"),
                                  ("orders", "bigint"), ("units", "bigint"), ("revenue_cents", "bigint")),
    "mart_daily_sales": (("day", "date"), ("orders", "bigint"), ("revenue_cents", "bigint"),
                         ("average_order_value_cents", "bigint"), ("customers", "bigint"),
                         ("new_customers", "bigint"), ("returning_customers", "bigint"), ("units", "bigint")),
    "mart_funnel_daily": (("day", "date"), ("sessions_with_view", "bigint"), ("sessions_with_cart", "bigint"),
                          ("orders", "bigint"), ("page_views", "bigint"), ("add_to_carts", "bigint"),
                          ("view_to_cart_rate", "double"), ("cart_to_order_rate", "double")),
    "mart_inventory": (("product_id", "bigint"), ("name", "string"), ("category_id", "bigint"),
                       ("category_name", "string"), ("stock", "bigint"), ("is_active", "boolean"),
                       ("as_of_day", "date"), ("units_sold_30d", "bigint"), ("days_of_cover", "bigint"),
                       ("low_stock", "boolean")),
    "mart_order_status_daily": (("day", "date"), ("status", "string"), ("orders", "bigint"),
                                ("total_cents", "bigint")),
    "mart_product_sales": (("product_id", "bigint"), ("product_name", "string"), ("category_id", "bigint"),
                           ("category_name", "string"), ("units", "bigint"), ("revenue_cents", "bigint"),
                           ("orders", "bigint"), ("first_sold_day", "date"), ("last_sold_day", "date"),
                           ("revenue_rank", "bigint")),
}

QUICKSIGHT_TYPES = {"bigint": "INTEGER", "string": "STRING", "date": "DATETIME", "double": "DECIMAL",
                    "boolean": "BOOLEAN"}
"""Glue type -> QuickSight InputColumn type."""

ARROW_TO_GLUE = {"int64": "bigint", "string": "string", "date32[day]": "date", "double": "double", "bool": "boolean"}
"""Parquet (as pyarrow names it) -> Glue type, for the check against real marts."""

DATASETS = ("mart_daily_sales", "mart_category_sales", "mart_product_sales", "mart_customer_cohorts",
            "mart_funnel_daily", "mart_inventory")
"""Marts that get a QuickSight dataset: those the dashboards' datasets read (analytics/dashboards/datasets.toml)."""
