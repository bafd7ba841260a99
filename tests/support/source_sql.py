"""Figures computed in SQL on the source database, for tests that compare marts and dashboard datasets with it.
The SQL runs on SQLite and MariaDB alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

DAY = "SUBSTR(CAST(DATE(o.placed_at) AS CHAR), 1, 10)"
"""The UTC date of an order as text, on SQLite (ISO text) and MariaDB (DATETIME) alike."""

Query = Callable[[str], list[tuple[Any, ...]]]


def daily_sales(query: Query) -> list[dict[str, Any]]:
    """mart_daily_sales's rows (day as ISO text), from the source's non-cancelled orders and their lines."""
    rows = []
    for day, orders, revenue, customers, new, returning, units in sorted(query(f"""
            WITH valid AS (SELECT o.id, o.customer_id, o.total_cents, {DAY} AS day FROM orders o
                           WHERE o.status <> 'cancelled'),
                 firsts AS (SELECT customer_id, MIN(day) AS first_day FROM valid GROUP BY customer_id),
                 units AS (SELECT order_id, SUM(quantity) AS units FROM order_lines GROUP BY order_id)
            SELECT v.day, COUNT(*), SUM(v.total_cents), COUNT(DISTINCT v.customer_id),
                   COUNT(DISTINCT CASE WHEN f.first_day = v.day THEN v.customer_id END),
                   COUNT(DISTINCT CASE WHEN f.first_day < v.day THEN v.customer_id END),
                   SUM(COALESCE(u.units, 0))
            FROM valid v JOIN firsts f ON f.customer_id = v.customer_id LEFT JOIN units u ON u.order_id = v.id
            GROUP BY v.day""")):
        revenue = int(revenue)  # MariaDB's SUM is a Decimal
        rows.append({"day": day, "orders": orders, "revenue_cents": revenue,
                     "average_order_value_cents": (2 * revenue + orders) // (2 * orders), "customers": customers,
                     "new_customers": new, "returning_customers": returning, "units": int(units)})
    return rows
