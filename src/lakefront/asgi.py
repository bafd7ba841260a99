"""Pure ASGI middleware both tiers share: the request id and one log line per request, and a complete
response for any error nothing else handled.

Pure ASGI on purpose: BaseHTTPMiddleware and @app.middleware("http") run the app in a task of their
own, and Starlette's ServerErrorMiddleware, where a handler for `Exception` ends up, sends its 500 and
then re-raises. The server then drops the kept-alive connection without saying `Connection: close`,
and a load balancer that sends the next request down it gets a dead connection (a 502 for that
request, and a failed upstream in its passive health check for everyone).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The load balancer's ids are uuid hex; anything else from outside is replaced rather than logged
# verbatim, so a client cannot inject text into our logs.
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]
log = logging.getLogger("lakefront")


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of request header `name` (lower case), if any."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RequestLogMiddleware:
    """Takes X-Request-Id (or makes one), exposes it as request.state.request_id, returns it in the
    response, and logs one line per request."""

    def __init__(self, app: ASGIApp, logger: logging.Logger) -> None:
        self.app = app
        self.log = logger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = header(scope, b"x-request-id") or ""
        rid = incoming if _SANE_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            ms = (time.perf_counter() - started) * 1000
            self.log.info("request rid=%s %s %s %s %.1fms", rid, scope["method"], scope["path"], status, ms)


class ErrorResponseMiddleware:
    """Answers an exception that escaped every handler with `handler`'s response, and does not
    re-raise it, so the connection stays usable. If the response had already started there is
    nothing left to send: the exception goes on and the server closes the connection."""

    def __init__(self, app: ASGIApp, handler: ErrorHandler) -> None:
        self.app = app
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            try:
                response = await self.handler(Request(scope, receive), exc)
            except Exception:
                # The error page itself failed: still answer, in the plainest way there is.
                log.exception("error handler failed on %s %s", scope["method"], scope["path"])
                response = PlainTextResponse("Internal Server Error", status_code=500)
            await response(scope, receive, send)
