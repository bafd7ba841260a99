"""Errors as RFC 9457 problem details (application/problem+json), naming the field at fault."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Match

from lakefront.analytics.errors import AnalyticsError, FilterError, LakeUnavailable
from lakefront.data.engines import DatabaseUnavailable
from lakefront.shop.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    StoreError,
    Throttled,
)

log = logging.getLogger("lakefront.api")
MEDIA_TYPE = "application/problem+json"
RETRY_AFTER_S = 1
_STATUS: list[tuple[type[StoreError], int]] = [
    (InvalidInput, 422), (NotFound, 404), (Conflict, 409), (NotAuthenticated, 401), (Forbidden, 403),
    (Throttled, 429),
]


def problem(status: int, detail: str, errors: list[dict[str, str]] | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status,
                            "detail": detail}
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    # ("body", "price_cents") -> "price_cents"; ("header", "idempotency-key") -> "Idempotency-Key"
    parts = [str(p) for p in loc]
    if parts and parts[0] == "header":
        return "-".join(w.capitalize() for w in parts[-1].split("-"))
    if parts and parts[0] in ("body", "query", "path", "form", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        # A body that is not JSON at all is located at a character offset: name the body instead.
        errors = [{"field": "body" if e["type"] == "json_invalid" else _field(tuple(e["loc"])), "message": e["msg"]}
                  for e in exc.errors()]
        fields = ", ".join(e["field"] for e in errors)
        return problem(422, f"invalid input: {fields}", errors)

    @app.exception_handler(StoreError)
    async def _store(_: Request, exc: StoreError) -> JSONResponse:
        status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 400)
        errors = [{"field": exc.field, "message": exc.message}] if exc.field else None
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, Throttled):
            headers = {"Retry-After": str(exc.retry_after_s)}
        return problem(status, exc.message, errors, headers)

    @app.exception_handler(AnalyticsError)
    async def _analytics(request: Request, exc: AnalyticsError) -> JSONResponse:
        # The dashboards' errors, mapped here once rather than in each route.
        if isinstance(exc, FilterError):
            return problem(422, exc.message, [{"field": exc.field, "message": exc.message}])
        if isinstance(exc, LakeUnavailable):
            log.warning("lake unavailable on %s %s: %s", request.method, request.url.path, exc)
            return problem(503, f"{exc}; retry shortly", headers={"Retry-After": str(RETRY_AFTER_S)})
        log.error("analytics error on %s %s: %s", request.method, request.url.path, exc)
        return problem(500, "the analytics service failed; the logs say why")

    app.add_exception_handler(HTTPException, _http)

    # Registered per class, not under Exception: Starlette re-raises what reaches its catch-all
    # handler, which logged a traceback for every 503 during a failover and broke the connection.
    # Anything else unhandled reaches `unhandled` through the ErrorResponseMiddleware.
    for kind in (DatabaseUnavailable, sqlalchemy.exc.DBAPIError, sqlalchemy.exc.TimeoutError):
        app.add_exception_handler(kind, unhandled)


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 400:
        # Only reading the body raises it here (not UTF-8, a broken multipart message): input we
        # cannot use, like a body that is not JSON at all, which FastAPI already answers with 422.
        return problem(422, "invalid input: body", [{"field": "body", "message": str(exc.detail)}])
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return problem(exc.status_code, str(exc.detail), headers=headers)


def _allowed_methods(request: Request) -> str:
    # Starlette names the methods of the first route on the path only, but each method is a route of its own.
    allowed = []
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        probe = {**request.scope, "method": method}
        if any(route.matches(probe)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return ", ".join(allowed)


async def unhandled(request: Request, exc: Exception) -> Response:
    """503 with Retry-After when the database could not be reached, else a 500 naming nothing internal."""
    if isinstance(exc, HTTPException):  # raised where no handler runs, e.g. by a middleware
        return await _http(request, exc)
    if _database_unavailable(exc):
        # Retryable, and nothing was half done (the transaction rolled back): say so.
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path,
                    str(getattr(exc, "orig", exc)).splitlines()[0][:200])
        return problem(503, "the database is unavailable; retry shortly",
                       headers={"Retry-After": str(RETRY_AFTER_S)})
    log.exception("unhandled error rid=%s on %s %s", request.scope.get("state", {}).get("request_id", ""),
                  request.method, request.url.path)
    return problem(500, "internal error; the request id in the logs tells what happened")


def _database_unavailable(exc: BaseException) -> bool:
    """A failure to reach the database (down, restarting, failing over), as opposed to a bad query."""
    import sqlalchemy.exc

    if isinstance(exc, DatabaseUnavailable):
        return True
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.TimeoutError):
        text = str(getattr(exc, "orig", exc)).lower()
        if text.startswith(("(1213,", "(1205,")):  # deadlock victim, lock wait timeout: rolled back, retryable
            return True
        # MySQL client errors 2002/2003/2006/2013 (cannot connect, gone away, lost connection),
        # a fenced primary (1290 read-only) or a connection it killed (1927) during a switchover,
        # SQLite's busy database or missing file (the serving tiers never create it), a pool that could
        # not hand out a connection in time.
        return any(marker in text for marker in (
            "2002", "2003", "2006", "2013", "can't connect", "gone away", "lost connection", "(1290,",
            "read-only", "(1927,", "connection was killed", "database is locked", "connection refused",
            "unable to open database file", "queuepool limit"))
    return False
