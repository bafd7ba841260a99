"""The web tier's composition root: one Starlette app per web instance (the EC2 Auto Scaling group role)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from lakefront.asgi import ErrorResponseMiddleware
from lakefront.settings import Settings
from lakefront.web import pages
from lakefront.web.client import ApiError, AppClient, AppUnavailable
from lakefront.web.middleware import RequestLogMiddleware
from lakefront.web.routes import account, admin, catalog, dashboards, shopping

log = logging.getLogger("lakefront.web")

STATIC_DIR = Path(__file__).parent / "static"
SESSION_MAX_AGE_S = 14 * 24 * 3600
FORM_OVERHEAD_BYTES = 64 * 1024

_TITLES = {
    400: "Bad request",
    401: "Please sign in",
    403: "Not allowed",
    404: "Page not found",
    405: "Not allowed",
    409: "Conflict",
    413: "That upload is too large",
    422: "Please check the form",
    500: "Something went wrong",
    503: "The store is temporarily unavailable",
}


async def _error_page(request: Request, status: int, detail: str = "", *, nav: bool = True) -> Response:
    title = _TITLES.get(status, "Something went wrong")
    return await pages.render(request, "errors/error.html",
                              {"title": title, "status": status, "detail": detail}, status=status, nav=nav)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if exc.detail and exc.detail != _default_phrase(exc.status_code) else ""
    return await _error_page(request, exc.status_code, detail)


def _default_phrase(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


async def _on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    if exc.status == 401:
        # The app tier no longer accepts the token (expired or signed out elsewhere).
        pages.end_session(request)
        target = request.url.path if request.method == "GET" else "/"
        return pages.redirect(pages.signin_url(target))
    if exc.status == 404:
        return await _error_page(request, 404)
    return await _error_page(request, exc.status if 400 <= exc.status < 500 else 400, exc.detail)


async def _on_unavailable(request: Request, exc: Exception) -> Response:
    # Do not ask the app tier for navigation: it has just failed us.
    response = await _error_page(request, 503, nav=False)
    response.headers["Retry-After"] = "1"  # a tier restarting or failing over is back within seconds
    return response


async def _on_signin_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, pages.SignInRequired)
    return pages.redirect(pages.signin_url(exc.next_url))


async def _on_crash(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error rid=%s %s %s", pages.request_id(request), request.method, request.url.path)
    return await _error_page(request, 500, nav=False)


def create_app(settings: Settings, instance: str) -> Starlette:
    """Build one web instance; it reaches the app tier at settings.internal_url and nothing else."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.client = AppClient(settings.internal_url)
        try:
            yield
        finally:
            await app.state.client.aclose()

    async def healthz(request: Request) -> Response:
        # The instance's own health, which is what the load balancer needs; never the app tier's.
        return JSONResponse({"status": "ok", "tier": "web", "instance": instance})

    routes = [
        Route("/healthz", healthz, name="healthz"),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        *catalog.routes,
        *account.routes,
        *shopping.routes,
        *admin.routes,
        *dashboards.routes,
    ]
    middleware = [
        Middleware(RequestLogMiddleware),
        Middleware(SessionMiddleware, secret_key=settings.secret(), session_cookie="lf_session",
                   max_age=SESSION_MAX_AGE_S, same_site="lax", https_only=False),
        # Innermost, so the error page has the session; not an `Exception` handler, which
        # Starlette re-raises after its 500 and so breaks the kept-alive connection.
        Middleware(ErrorResponseMiddleware, handler=_on_crash),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        # A backstop for bodies without an honest Content-Length; the upload route refuses
        # oversized uploads earlier, with a proper page (this one answers in plain text).
        max_body_size=settings.media.max_upload_bytes + 16 * FORM_OVERHEAD_BYTES,
        exception_handlers={
            HTTPException: _on_http_error,
            ApiError: _on_api_error,
            AppUnavailable: _on_unavailable,
            pages.SignInRequired: _on_signin_required,
        },
    )
    app.state.settings = settings
    app.state.instance = instance
    return app
