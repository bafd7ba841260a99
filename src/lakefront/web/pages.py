"""What every page handler shares: the per-request API client, session, CSRF checks and rendering."""

from __future__ import annotations

import logging
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
import markupsafe
from starlette.background import BackgroundTask
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from lakefront.web.assets import static_url
from lakefront.web.client import Api, ApiError, AppClient, AppUnavailable, Category

log = logging.getLogger("lakefront.web")

TEMPLATES_DIR = Path(__file__).parent / "templates"
SORTS = {
    "popular": "Most popular",
    "newest": "Newest",
    "price_asc": "Price: low to high",
    "price_desc": "Price: high to low",
    "name": "Name",
}
# Navigation changes rarely; a short per-instance memory saves an app-tier call on every page.
NAV_TTL_S = 30.0


class SignInRequired(Exception):
    """The page needs a signed-in user; the handler answers with a redirect to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def money(cents: int | None) -> str:
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(int(cents)), 100)
    return f"{sign}${whole:,}.{part:02d}"


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates are part of the release: checking each one's mtime on every render was 3% of a page.
        auto_reload=False,
    )
    env.filters["money"] = money
    env.globals["SORTS"] = SORTS
    env.globals["static_url"] = static_url
    return Jinja2Templates(env=env, context_processors=[_session_context])


class _FormToken:
    """The session's CSRF token, made only when a template prints it (a page with a form).

    Made eagerly, it changed the session of every first-time visitor on every page, so each page
    sealed a new cookie and sent Set-Cookie, forms or not; now pages without a form leave the session
    as it was.
    """

    def __init__(self, request: Request) -> None:
        self.request = request

    def __str__(self) -> str:
        return csrf_token(self.request)

    def __html__(self) -> str:
        return str(markupsafe.escape(str(self)))


def _session_context(request: Request) -> dict[str, Any]:
    session = request.session
    user = {"name": session["name"], "is_admin": bool(session.get("is_admin"))} if "token" in session else None
    return {"user": user, "csrf_token": _FormToken(request), "request_id": request_id(request)}


templates = _templates()


def request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def client(request: Request) -> AppClient:
    app_client: AppClient = request.app.state.client
    return app_client


def forwarded_for(request: Request) -> str:
    """X-Forwarded-For for the app tier: the chain we received plus the peer we saw, as any proxy
    appends. The app tier decides which entries to believe (settings.lb.trusted_proxies)."""
    hops = [value for value in request.headers.getlist("x-forwarded-for") if value.strip()]
    if request.client:
        hops.append(request.client.host)
    return ", ".join(hops)


def api(request: Request) -> Api:
    """The app-tier client bound to this request: its request id, the signed-in user's token, the shopper's address."""
    return client(request).bind(request_id(request), request.session.get("token"), forwarded_for(request))


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


def analytics_session(request: Request) -> str:
    sid = request.session.get("sid")
    if not sid:
        sid = request.session["sid"] = secrets.token_hex(16)
    return str(sid)


async def checked_form(request: Request) -> FormData:
    """The POSTed form, once its CSRF token matches the session's; otherwise 403 and nothing happens."""
    form = await request.form(max_part_size=1024 * 1024)
    sent = form.get("csrf_token")
    expected = request.session.get("csrf")
    if not isinstance(sent, str) or not expected or not secrets.compare_digest(sent, str(expected)):
        raise HTTPException(403, "The form has expired or did not come from this site. Please try again.")
    return form


def form_str(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name, default)
    return value.strip() if isinstance(value, str) else default


def signed_in(request: Request) -> bool:
    return "token" in request.session


def require_signin(request: Request, next_url: str | None = None) -> None:
    if not signed_in(request):
        raise SignInRequired(next_url or request.url.path)


def require_admin(request: Request) -> None:
    require_signin(request)
    if not request.session.get("is_admin"):
        raise HTTPException(403, "This area is for store administrators.")


def start_session(request: Request, token: str, name: str, is_admin: bool) -> None:
    sid = request.session.get("sid")
    request.session.clear()
    request.session.update({"token": token, "name": name, "is_admin": is_admin})
    if sid:
        request.session["sid"] = sid
    # A fresh CSRF token at every change of identity, so a token seen before sign-in is useless after.
    request.session["csrf"] = secrets.token_urlsafe(32)


def end_session(request: Request) -> None:
    sid = request.session.get("sid")
    request.session.clear()
    if sid:
        request.session["sid"] = sid


def safe_next(value: str | None, default: str = "/") -> str:
    """Only local paths: a `next` pointing elsewhere would make sign-in an open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value


def signin_url(next_url: str) -> str:
    return f"/signin?next={quote(safe_next(next_url), safe='/')}"


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def page_number(request: Request) -> int:
    try:
        return max(1, min(int(request.query_params.get("page", "1")), 10_000))
    except ValueError:
        return 1


async def nav_categories(request: Request) -> list[Category]:
    state = request.app.state
    cached: tuple[float, list[Category]] | None = getattr(state, "nav_cache", None)
    now = time.monotonic()
    if cached and now - cached[0] < NAV_TTL_S:
        return cached[1]
    try:
        categories = await api(request).categories()
    except (AppUnavailable, ApiError) as exc:
        # The page itself may still work; the navigation is not worth failing it for.
        log.warning("navigation unavailable rid=%s: %s", request_id(request), exc)
        return cached[1] if cached else []
    state.nav_cache = (now, categories)
    return categories


async def render(request: Request, name: str, context: dict[str, Any] | None = None, *, status: int = 200,
                 background: BackgroundTask | None = None, nav: bool = True) -> Response:
    context = dict(context or {})
    context.setdefault("nav", await nav_categories(request) if nav else [])
    context.setdefault("title", "")
    response = templates.TemplateResponse(request, name, context, status_code=status, background=background)
    if signed_in(request):
        # The page shows this person's name and a form token at least: no cache may keep it.
        response.headers["Cache-Control"] = "no-store"
    return response
