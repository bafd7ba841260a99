"""Analytics dashboards (the QuickSight role): pages for admins; the charts' data proxied from the app tier.

The browser never holds the API token: it asks this tier for each visual's data, and this tier asks the
app tier with the admin's token from the session. The filter state lives in the URL (from, to, category),
so a link reproduces the view.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lakefront.web.client import ApiError, AppUnavailable, Dashboard, Visual
from lakefront.web.pages import (
    SignInRequired,
    api,
    money,
    render,
    request_id,
    require_admin,
    signed_in,
    templates,
)

log = logging.getLogger("lakefront.web")

# Ids go into the app tier's URL path: letters, digits, - and _ only, so nothing can climb out of it.
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
FILTER_PARAMS = ("from", "to", "category")
PROBLEM = "application/problem+json"
# Which URL parameters each of the dashboards' filters owns.
FILTER_FIELDS = {"date": ("from", "to"), "category": ("category",)}


def format_metric(value: Any, fmt: str) -> str:
    """A value as the dashboards show it; static/dashboards.js formats the same way."""
    if value is None or value == "":
        return "—"
    if fmt == "text" or fmt == "date" or isinstance(value, str):
        return str(value)
    if fmt == "cents":
        return money(round(value))
    if fmt == "percent":  # a ratio: 0.125 is 12.5%
        return f"{value * 100:,.1f}%"
    if fmt == "days":
        return f"{value:,.0f} days" if float(value).is_integer() else f"{value:,.1f} days"
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.2f}"


def format_change(change_pct: float) -> str:
    arrow = "▲" if change_pct > 0 else ("▼" if change_pct < 0 else "▶")
    return f"{arrow} {change_pct:+.1f}%"


templates.env.filters.update(metric=format_metric, change_pct=format_change)


def _ident(request: Request, name: str) -> str:
    value = str(request.path_params[name])
    if not _ID.match(value):
        raise HTTPException(404)
    return value


def filter_params(request: Request) -> dict[str, str]:
    """The filters the URL carries, as given (the app tier validates them and names a bad one)."""
    found = {}
    for name in FILTER_PARAMS:
        value = request.query_params.get(name, "").strip()
        if value:
            found[name] = value[:100]
    return found


def resolve_filters(dashboard: Dashboard, given: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The filter state to show: the URL's values where valid, else the dashboard's defaults; and the errors.

    The default date range is the last `default_days` days of data (not of the calendar): a lake whose
    latest order is a month old still opens on a full range.
    """
    state: dict[str, str] = {}
    errors: dict[str, str] = {}
    kinds = {f.id: f for f in dashboard.filters}
    date_filter = kinds.get("date")
    if date_filter is not None and dashboard.date_bounds is not None:
        bounds = dashboard.date_bounds
        days = max(1, date_filter.default_days or 30)
        end, start = bounds.max, max(bounds.min, bounds.max - timedelta(days=days - 1))
        parsed: dict[str, date] = {}
        for name in ("from", "to"):
            if name in given:
                try:
                    parsed[name] = date.fromisoformat(given[name])
                except ValueError:
                    errors[name] = "enter a date as YYYY-MM-DD"
        if "from" in parsed and "to" in parsed and parsed["from"] > parsed["to"]:
            errors["from"] = "the start is after the end"
            parsed.clear()
        state["from"] = parsed.get("from", start).isoformat()
        state["to"] = parsed.get("to", end).isoformat()
    if "category" in kinds:
        slug = given.get("category", "")
        known = {c.slug for c in dashboard.categories}
        if slug and slug not in known:
            errors["category"] = "no such category"
            slug = ""
        state["category"] = slug
    return state, errors


def applicable(visual: Visual, state: dict[str, str]) -> dict[str, str]:
    """The part of the filter state that applies to one visual (what it is queried, and cached, with)."""
    names = {name for f in visual.filters for name in FILTER_FIELDS.get(f, ())}
    return {name: value for name, value in state.items() if name in names and value}


def data_url(dashboard_id: str, visual_id: str, params: dict[str, str], *, csv: bool = False) -> str:
    path = f"/dashboards/{dashboard_id}/data/{visual_id}{'.csv' if csv else ''}"
    return f"{path}?{urlencode(params)}" if params else path


def as_of_text(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


async def index(request: Request) -> Response:
    require_admin(request)
    found = await api(request).dashboards()
    return await render(request, "dashboards/index.html", {"title": "Dashboards", "dashboards": found})


async def _initial_kpis(request: Request, dashboard: Dashboard, state: dict[str, str]) -> dict[str, Any]:
    """KPI data fetched while rendering, so the numbers are on the page without JavaScript.

    A KPI the app tier cannot answer now is left to the browser, which shows its error in place.
    """
    client = api(request)
    kpis = [v for v in dashboard.visuals if v.type == "kpi"]
    answers = await asyncio.gather(*(client.visual_data(dashboard.id, v.id, applicable(v, state)) for v in kpis),
                                   return_exceptions=True)
    initial: dict[str, Any] = {}
    for visual, answer in zip(kpis, answers, strict=True):
        if isinstance(answer, bytes):
            try:
                initial[visual.id] = json.loads(answer)
            except ValueError:
                log.warning("unreadable KPI data rid=%s %s/%s", request_id(request), dashboard.id, visual.id)
        elif isinstance(answer, ApiError | AppUnavailable):
            log.info("KPI left to the browser rid=%s %s/%s: %s", request_id(request), dashboard.id, visual.id,
                     answer)
        elif isinstance(answer, BaseException):
            raise answer
    return initial


async def dashboard_page(request: Request) -> Response:
    require_admin(request)
    dashboard_id = _ident(request, "dashboard_id")
    dashboard = await api(request).dashboard(dashboard_id)
    state, errors = resolve_filters(dashboard, filter_params(request))
    initial = {} if dashboard.empty else await _initial_kpis(request, dashboard, state)
    visuals = [{"def": v, "data": initial.get(v.id),
                "csv": data_url(dashboard.id, v.id, applicable(v, state), csv=True)} for v in dashboard.visuals]
    config = {
        "id": dashboard.id,
        "state": state,
        "filters": {name: list(FILTER_FIELDS.get(name, ())) for name in (f.id for f in dashboard.filters)},
        "visuals": [v.model_dump(mode="json") for v in dashboard.visuals],
        "categories": [c.model_dump(mode="json") for c in dashboard.categories],
        "initial": initial,
    }
    return await render(request, "dashboards/dashboard.html", {
        "title": dashboard.title, "dashboard": dashboard, "state": state, "errors": errors,
        "filter_ids": [f.id for f in dashboard.filters], "visuals": visuals, "config": config,
        "as_of": as_of_text(dashboard.as_of),
    })


def _problem(status: int, detail: str, errors: list[dict[str, str]] | None = None,
             headers: dict[str, str] | None = None) -> JSONResponse:
    from http import HTTPStatus

    body: dict[str, Any] = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status,
                            "detail": detail}
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _admin_for_data(request: Request, dashboard_id: str) -> JSONResponse | None:
    """Like require_admin, but a signed-in non-admin gets problem+json: the caller is a script, not a person."""
    if not signed_in(request):
        # After signing in, the person lands on the dashboard, not on a bare JSON or CSV answer.
        raise SignInRequired(f"/dashboards/{dashboard_id}")
    if not request.session.get("is_admin"):
        return _problem(403, "This area is for store administrators.")
    return None


async def _proxied(request: Request, *, csv: bool) -> Response:
    dashboard_id = _ident(request, "dashboard_id")
    refused = _admin_for_data(request, dashboard_id)
    if refused is not None:
        return refused
    visual_id = _ident(request, "visual_id")
    params = filter_params(request)
    client = api(request)
    try:
        if csv:
            download = await client.visual_csv(dashboard_id, visual_id, params)
            stem = "-".join([dashboard_id, visual_id, *(params[k] for k in FILTER_PARAMS if k in params)])
            disposition = download.disposition or f'attachment; filename="{stem}.csv"'
            return Response(download.content, media_type=download.content_type,
                            headers={"Content-Disposition": disposition, "Cache-Control": "private, no-store"})
        body = await client.visual_data(dashboard_id, visual_id, params)
    except ApiError as exc:
        if exc.status == 401:
            raise  # the token is no longer accepted: the error handler ends the session and asks to sign in
        errors = [{"field": name, "message": message} for name, message in exc.field_errors.items()]
        return _problem(exc.status, exc.detail or exc.title, errors)
    except AppUnavailable:
        return _problem(503, "The analytics service is unavailable; retry shortly.", headers={"Retry-After": "1"})
    return Response(body, media_type="application/json", headers={"Cache-Control": "private, no-store"})


async def visual_data(request: Request) -> Response:
    return await _proxied(request, csv=False)


async def visual_csv(request: Request) -> Response:
    return await _proxied(request, csv=True)


routes = [
    Route("/dashboards", index, methods=["GET"], name="dashboards"),
    Route("/dashboards/{dashboard_id}", dashboard_page, methods=["GET"], name="dashboard"),
    # The CSV route first: "{visual_id}" alone would also match "top-products.csv".
    Route("/dashboards/{dashboard_id}/data/{visual_id}.csv", visual_csv, methods=["GET"], name="dashboard_csv"),
    Route("/dashboards/{dashboard_id}/data/{visual_id}", visual_data, methods=["GET"], name="dashboard_data"),
]
