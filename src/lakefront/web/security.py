"""Browser-facing protections every web response gets: security headers, private pages never stored,
and the 404 page for a path no URL of ours can have.
"""

from __future__ import annotations

import re

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lakefront.web import pages
from lakefront.web.headers import CSP as CSP  # re-exported: the tests read the policy here
from lakefront.web.headers import HEADERS

# Pages and data of one person: no browser or shared cache may keep them (a signed-out browser's
# back button, a shared computer, a proxy). Pages rendered for a signed-in user anywhere else get
# the same from pages.render.
PRIVATE_PREFIXES = ("/cart", "/checkout", "/orders", "/admin", "/dashboards", "/signin", "/signup", "/signout")
NO_STORE = "no-store"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def is_private(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in PRIVATE_PREFIXES)


class SecurityHeadersMiddleware:
    """Adds HEADERS to every response, and Cache-Control: no-store under PRIVATE_PREFIXES.

    It wraps the whole application (see web.app.WebApp), outside even the error handling, so error
    pages get the headers too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = is_private(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers[name] = value
                if private and NO_STORE not in headers.get("cache-control", ""):
                    headers["cache-control"] = NO_STORE
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ControlCharacterGuard:
    """The 404 page, at once, for a path with a control character in it (``/c/%00``, ``/p/1%0a``).

    No URL of this site has one, and refusing them here keeps them out of every handler, including
    ones added later; the app-tier client refuses them again (lakefront.web.paths).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _CONTROL.search(scope["path"]):
            request = Request(scope, receive)
            response = await pages.render(request, "errors/error.html",
                                          {"title": "Page not found", "status": 404, "detail": ""},
                                          status=404, nav=False)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
