"""Dashboards and their data (the QuickSight role's API): admins only, answered from the lake's marts.

Filters are query parameters: from and to (YYYY-MM-DD, inclusive) and category (a slug). A visual applies only
the filters its definition lists; values are checked whether or not they apply (422 naming the parameter).
Data is JSON, or CSV with ``format=csv``. Money is integer cents, dates are YYYY-MM-DD.
"""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from lakefront.analytics.dashboards import Dashboard
from lakefront.analytics.serving import KPI_COLUMN_TYPES, Analytics, Result, kpi_rows, parse_filters
from lakefront.api.bootstrap import AppServices
from lakefront.api.deps import Admin, services
from lakefront.api.openapi import ADMIN, responses
from lakefront.api.schemas import Slug
from lakefront.shop.errors import NotFound

router = APIRouter(prefix="/api/analytics", tags=["analytics"], responses=responses(*ADMIN))

From = Annotated[str | None, Query(alias="from", max_length=40, description="First day, YYYY-MM-DD (inclusive)")]
To = Annotated[str | None, Query(max_length=40, description="Last day, YYYY-MM-DD (inclusive)")]
Category = Annotated[Slug | None, Query(description="A category slug")]
Format = Annotated[Literal["json", "csv"], Query(description="json, or csv (a download)")]
# Data answers are JSON, or CSV with format=csv; an unknown dashboard, visual or dataset is a 404.
DATA_RESPONSES = {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}, **responses(404)}
DATA_SHAPE = ("Answers {visual, dataset, columns: [{name, type}], rows: [{column: value}], as_of, run_id, cached, "
                    "empty, filters: {from, to, category}}; kpi visuals: one row per metric (metric, label, value, "
                    "previous, change_pct, format) and the period and previous_period compared.")


def _analytics(app: Annotated[AppServices, Depends(services)]) -> Analytics:
    return app.analytics


Lake = Annotated[Analytics, Depends(_analytics)]


def _dashboard(lake: Analytics, dashboard_id: str) -> Dashboard:
    found = lake.catalog.dashboards.get(dashboard_id)
    if found is None:
        raise NotFound("dashboard", repr(dashboard_id))
    return found


def _summary(dashboard: Dashboard) -> dict[str, Any]:
    return {"id": dashboard.id, "title": dashboard.spec.title, "description": dashboard.spec.description}


@router.get("/dashboards")
def list_dashboards(lake: Lake, _: Admin) -> list[dict[str, Any]]:
    """Every dashboard: [{id, title, description}]."""
    return [_summary(d) for d in lake.catalog.dashboards.values()]


@router.get("/dashboards/{dashboard_id}", responses=responses(404))
def get_dashboard(lake: Lake, _: Admin, dashboard_id: Slug) -> dict[str, Any]:
    """A dashboard's filters, visuals and layout, with the freshness and date range of its data."""
    dashboard = _dashboard(lake, dashboard_id)
    service = lake.service
    commits = service.commits(dashboard.marts)
    as_of, run_id = service.newest(commits)
    bounds = service.date_bounds(*dashboard.dates) if dashboard.dates else None
    categories = ([{"slug": c["slug"], "name": c["name"]} for c in service.categories()]
                  if "category" in dashboard.filter_ids else [])
    filters = []
    for f in dashboard.spec.filters:
        shown: dict[str, Any] = {"id": f.id, "type": f.type}
        if f.type == "date_range":
            shown["default_days"] = f.default_days
        filters.append(shown)
    visuals = []
    for v in dashboard.spec.visuals:
        visual: dict[str, Any] = {
            "id": v.id, "title": v.title, "type": v.type, "dataset": v.dataset, "filters": list(v.filters),
            "width": v.width, "encoding": v.encoding.model_dump(exclude_none=True), "format": dict(v.format),
            "drill": v.drill.model_dump() if v.drill else None}
        if v.type == "kpi":
            visual["metrics"] = [{"id": m.id, "label": m.label, "format": m.format} for m in v.metrics]
            visual["format"] = {m.id: m.format for m in v.metrics} | visual["format"]
        visuals.append(visual)
    return _summary(dashboard) | {
        "filters": filters, "visuals": visuals, "as_of": as_of, "run_id": run_id, "date_bounds": bounds,
        "categories": categories, "empty": not commits, "marts": list(dashboard.marts)}


def _body(result: Result) -> dict[str, Any]:
    return {"dataset": result.dataset, "columns": result.columns, "rows": result.rows, "as_of": result.as_of,
            "run_id": result.run_id, "cached": result.cached, "empty": result.empty, "filters": result.filters}


def _json(body: dict[str, Any]) -> Response:
    # Rows are plain JSON values already; FastAPI's generic encoder cost more than the query when warm.
    return Response(orjson.dumps(body), media_type="application/json")


def _csv(body: dict[str, Any], filename: str) -> Response:
    out = io.StringIO()
    names = [c["name"] for c in body["columns"]]
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(names)
    for row in body["rows"]:
        writer.writerow(["" if row.get(n) is None else row.get(n) for n in names])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/dashboards/{dashboard_id}/visuals/{visual_id}", response_model=None, responses=DATA_RESPONSES,
            description="One visual's data, with the dashboard's filters that apply to it. " + DATA_SHAPE)
def visual_data(lake: Lake, _: Admin, dashboard_id: Slug, visual_id: Slug, date_from: From = None,
                to: To = None, category: Category = None, format: Format = "json") -> Response:
    """One visual's data, with the dashboard's filters that apply to it."""
    dashboard = _dashboard(lake, dashboard_id)
    visual = dashboard.visuals.get(visual_id)
    if visual is None:
        raise NotFound("visual", f"{visual_id!r} of dashboard {dashboard_id!r}")
    filters = parse_filters(date_from, to, category)
    result = lake.service.query(lake.catalog.datasets[visual.dataset], filters, visual.filters)
    body = {"visual": visual.id, "dashboard": dashboard.id} | _body(result)
    if visual.type == "kpi":
        rows, periods = kpi_rows(result.rows, visual.metrics)
        body |= {"columns": KPI_COLUMN_TYPES, "rows": [] if result.empty else rows, **periods}
    if format == "csv":
        return _csv(body, f"{dashboard.id}-{visual.id}.csv")
    return _json(body)


@router.get("/datasets")
def list_datasets(lake: Lake, _: Admin) -> list[dict[str, Any]]:
    """Every dataset: [{name, description, filters, columns, marts}]."""
    return [{"name": d.name, "description": d.spec.description, "filters": list(d.filters),
             "columns": list(d.columns), "marts": list(d.marts)} for d in lake.catalog.datasets.values()]


@router.get("/datasets/{name}", response_model=None, responses=DATA_RESPONSES,
            description="A dataset's rows with every filter it takes, for API clients. " + DATA_SHAPE)
def dataset_data(lake: Lake, _: Admin, name: Slug, date_from: From = None, to: To = None,
                 category: Category = None, format: Format = "json") -> Response:
    """A dataset's rows with every filter it takes, for API clients."""
    dataset = lake.catalog.datasets.get(name)
    if dataset is None:
        raise NotFound("dataset", repr(name))
    filters = parse_filters(date_from, to, category)
    result = lake.service.query(dataset, filters)
    body = {"visual": None} | _body(result)
    if format == "csv":
        return _csv(body, f"{dataset.name}.csv")
    return _json(body)
