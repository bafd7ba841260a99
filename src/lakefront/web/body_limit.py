"""How much of a request body the web tier reads: enough for its forms, more for an image upload.

Starlette's own max_body_size answers an oversized body in plain text and even replaces a response
the handler sends; this limit only raises BodyTooLarge (an HTTPException, 413) from receive(), so the
error page says what happened, and the upload form catches it to show its own message. It holds for
a declared Content-Length (refused before reading anything) and for a chunked body alike.
"""

from __future__ import annotations

import re

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

FORM_LIMIT_BYTES = 256 * 1024
"""Every form but the image upload: a product description of 10,000 characters is about 40 KB."""
MULTIPART_OVERHEAD_BYTES = 64 * 1024
"""Room for the upload form's other fields and the multipart boundaries around the file."""
_UPLOAD_PATH = re.compile(r"^/admin/products/[0-9]+/image$")


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Requests to this page can be at most {limit // 1024:,} KB.")
        self.limit = limit


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_upload_bytes: int) -> None:
        self.app = app
        self.upload_limit = max_upload_bytes + MULTIPART_OVERHEAD_BYTES

    def limit_for(self, path: str) -> int:
        return self.upload_limit if _UPLOAD_PATH.match(path) else FORM_LIMIT_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _declared_length(scope)
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            if declared is not None and declared > limit:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)
