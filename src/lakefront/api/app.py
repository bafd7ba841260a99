"""create_app: one app-tier instance (the Elastic Beanstalk role)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from lakefront import __version__
from lakefront.api import openapi, problems
from lakefront.api.bootstrap import build_services
from lakefront.api.middleware import BodyLimit, ResponseHeaders
from lakefront.api.routes import admin, analytics, auth, cart, catalog, events, health, media, orders
from lakefront.asgi import ErrorResponseMiddleware, RequestLogMiddleware
from lakefront.settings import Settings

log = logging.getLogger("lakefront.api")
# Room for the multipart framing around an uploaded image (boundaries, part headers).
MULTIPART_OVERHEAD_BYTES = 64 * 1024


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
                  docs_url=None, redoc_url=None,
                  description="The store's JSON API (the Elastic Beanstalk role). Money is in integer cents. "
                              "Errors are application/problem+json naming the fields at fault.")
    problems.install(app)
    openapi.install(app)
    for module in (catalog, auth, cart, orders, admin, media, events, health, analytics):
        app.include_router(module.router)
    larger = {admin.put_image: settings.media.max_upload_bytes + MULTIPART_OVERHEAD_BYTES}
    # Each one added wraps those before it: the log line sees the final status, and every answer,
    # the 500s included, carries the instance's headers.
    app.add_middleware(BodyLimit, default=settings.app.max_json_body_bytes, larger=larger)
    app.add_middleware(ErrorResponseMiddleware, handler=problems.unhandled)
    app.add_middleware(ResponseHeaders, instance=instance)
    app.add_middleware(RequestLogMiddleware, logger=log)
    return app
