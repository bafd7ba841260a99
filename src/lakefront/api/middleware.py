"""The app tier's own middleware: response headers every answer carries, and the request body limit."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lakefront.asgi import header


class ResponseHeaders:
    """Names the instance, forbids MIME sniffing, and keeps answers to authenticated requests out of
    every cache (they are someone's own cart, orders or token)."""

    def __init__(self, app: ASGIApp, instance: str) -> None:
        self.app = app
        self.fixed = [(b"x-instance", instance.encode()), (b"x-content-type-options", b"nosniff")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = header(scope, b"authorization") is not None

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if private:
                    headers = [(k, v) for k, v in headers if k.lower() != b"cache-control"]
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers + self.fixed
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyTooLarge(HTTPException):
    """Raised from `receive`, where the route reading the body lets it through to the problem handler."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


class BodyLimit:
    """Caps every request body at `default` bytes, or its route's own limit (the image upload's), with a
    413 problem: before reading any of it when Content-Length says so, else as soon as the chunks pass it.

    Not FastAPI's `max_body_size`: when Content-Length is too large, Starlette's limiter answers in
    plain text itself, replacing whatever the app answered.
    """

    def __init__(self, app: ASGIApp, default: int, larger: Mapping[Callable[..., Any], int]) -> None:
        self.app = app
        self.default = default
        self.larger = larger
        """Limits by route endpoint."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = header(scope, b"content-length")
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            # Only a route reads the body, so routing has named the endpoint by now.
            limit = self.larger.get(scope.get("endpoint"), self.default)  # type: ignore[arg-type]
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)
