"""Serving (the QuickSight/SPICE role): an app instance's dashboards and the query service over the marts.

The app tier builds one Analytics per process (api/deps.py). The service asks the lake for the marts' current
snapshots (analytics/lake: names and versions come from the catalog; nothing here knows a key or a file).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lakefront.analytics.dashboards import Catalog, load_catalog
from lakefront.analytics.dashboards.spec import Metric
from lakefront.analytics.errors import FilterError, LakeUnavailable
from lakefront.analytics.lake import Lake
from lakefront.analytics.serving.filters import Filters, parse_filters
from lakefront.analytics.serving.service import QueryService, Result
from lakefront.settings import Settings

KPI_COLUMN_TYPES = [{"name": "metric", "type": "string"}, {"name": "label", "type": "string"},
                    {"name": "value", "type": "number"}, {"name": "previous", "type": "number"},
                    {"name": "change_pct", "type": "number"}, {"name": "format", "type": "string"}]


def kpi_rows(rows: list[dict[str, Any]], metrics: list[Metric]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One row per metric from a kpi dataset's 'current' and 'previous' rows; and the two periods.

    change_pct: (value - previous) * 100 / previous, None when previous is 0 or None (or value is None).
    """
    by_period = {row["period"]: row for row in rows}
    current, previous = by_period.get("current", {}), by_period.get("previous", {})
    out = []
    for metric in metrics:
        value, before = current.get(metric.column), previous.get(metric.column)
        change = None if value is None or not before else (value - before) * 100 / before
        out.append({"metric": metric.id, "label": metric.label, "value": value, "previous": before,
                    "change_pct": change, "format": metric.format})
    periods = {name: ({"from": row.get("period_from"), "to": row.get("period_to")} if row else None)
               for name, row in (("period", current), ("previous_period", previous))}
    return out, periods


@dataclass
class Analytics:
    """An app instance's dashboards (checked at start-up) and its query service."""

    catalog: Catalog
    service: QueryService

    def close(self) -> None:
        self.service.close()


def build_analytics(settings: Settings, lake: Lake | None = None) -> Analytics:
    """Check every dashboard definition (DashboardError naming the field) and set up the query service.

    Nothing is read from the lake here (the catalog is not even opened): the first dashboard request loads the
    marts.
    """
    catalog = load_catalog()
    analytics = settings.analytics
    service = QueryService(lake if lake is not None else Lake(settings), refresh_s=analytics.refresh_s,
                           cache_entries=analytics.cache_entries, memory_limit=analytics.duckdb_memory_limit,
                           threads=analytics.duckdb_threads)
    return Analytics(catalog, service)


__all__ = ["KPI_COLUMN_TYPES", "Analytics", "FilterError", "Filters", "LakeUnavailable", "QueryService", "Result",
           "build_analytics", "kpi_rows", "parse_filters"]
