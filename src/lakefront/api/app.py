"""create_app: one app-tier instance (the Elastic Beanstalk role)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI, Request, Response

from lakefront import __version__
from lakefront.api import problems
from lakefront.api.deps import build_services
from lakefront.api.routes import admin, analytics, auth, cart, catalog, events, health, media, orders
from lakefront.settings import Settings

log = logging.getLogger("lakefront.api")


def create_app(settings: Settings, instance: str = "app-1") -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.app.workers_threads
        app.state.services = build_services(settings, instance)
        log.info("started instance=%s database=%s cache=%s", instance, app.state.services.engines.describe(),
                 settings.cache_backend)
        try:
            yield
        finally:
            app.state.services.close()
            log.info("stopped instance=%s", instance)

    app = FastAPI(title="Lakefront app tier", version=__version__, lifespan=lifespan,
                  description="The store's JSON API (the Elastic Beanstalk role). Money is in integer cents.")
    problems.install(app)
    for module in (catalog, auth, cart, orders, admin, media, events, health, analytics):
        app.include_router(module.router)

    @app.middleware("http")
    async def request_log(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        # The public load balancer assigns the id; the web tier forwards it; we log it.
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            response.headers["X-Request-Id"] = rid
            response.headers["X-Instance"] = instance
            return response
        finally:
            log.info("request rid=%s %s %s %d %.1fms", rid, request.method, request.url.path, status,
                     (time.perf_counter() - start) * 1000)

    return app
