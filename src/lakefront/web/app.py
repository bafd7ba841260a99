"""The web tier's composition root: one Starlette app per web instance (the EC2 Auto Scaling group role)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from lakefront.asgi import ErrorResponseMiddleware
from lakefront.settings import Settings
from lakefront.web import pages
from lakefront.web.assets import STATIC_DIR, StaticAssets
from lakefront.web.body_limit import BodyLimitMiddleware
from lakefront.web.client import ApiError, AppClient, AppUnavailable
from lakefront.web.middleware import RequestLogMiddleware
from lakefront.web.pageviews import PageViewBatcher
from lakefront.web.routes import account, admin, catalog, dashboards, shopping
from lakefront.web.security import ControlCharacterGuard, SecurityHeadersMiddleware
from lakefront.web.sessions import EncryptedSessionMiddleware

log = logging.getLogger("lakefront.web")

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


class WebApp(Starlette):
    """Starlette, with the security headers outside its whole stack, error handling included:
    a middleware in the list would miss the responses of the error handler that wraps the list."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeadersMiddleware(super().build_middleware_stack())


def create_app(settings: Settings, instance: str) -> Starlette:
    """Build one web instance; it reaches the app tier at settings.internal_url and nothing else."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.client = AppClient(settings.internal_url, fallbacks=settings.internal_urls[1:])
        app.state.page_views = PageViewBatcher(app.state.client, settings.web.page_view_flush_s)
        app.state.page_views.start()
        try:
            yield
        finally:
            await app.state.page_views.close()
            await app.state.client.aclose()

    async def healthz(request: Request) -> Response:
        # The instance's own health, which is what the load balancer needs; never the app tier's.
        return JSONResponse({"status": "ok", "tier": "web", "instance": instance})

    routes = [
        Route("/healthz", healthz, name="healthz"),
        Mount("/static", StaticAssets(directory=STATIC_DIR), name="static"),
        *catalog.routes,
        *account.routes,
        *shopping.routes,
        *admin.routes,
        *dashboards.routes,
    ]
    middleware = [
        Middleware(RequestLogMiddleware),
        Middleware(EncryptedSessionMiddleware, secret=settings.secret(), max_age_s=settings.session.max_age_s),
        Middleware(ControlCharacterGuard),
        Middleware(BodyLimitMiddleware, max_upload_bytes=settings.media.max_upload_bytes),
        # Innermost, so the error page has the session; not an `Exception` handler, which
        # Starlette re-raises after its 500 and so breaks the kept-alive connection.
        Middleware(ErrorResponseMiddleware, handler=_on_crash),
    ]
    app = WebApp(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
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
