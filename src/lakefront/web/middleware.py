"""Request identity and the one log line per request, with the web tier's logger."""

from __future__ import annotations

import logging

from starlette.types import ASGIApp

from lakefront import asgi

log = logging.getLogger("lakefront.web")


class RequestLogMiddleware(asgi.RequestLogMiddleware):
    """Takes X-Request-Id (or makes one), exposes it as request.state.request_id, logs one line."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, log)
