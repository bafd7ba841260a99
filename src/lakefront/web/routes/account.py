"""Signing up, in and out. The app tier's token lives only in the encrypted session cookie."""

from __future__ import annotations

import logging
import math

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lakefront.web.client import ApiError, AppUnavailable
from lakefront.web.pages import (
    api,
    checked_form,
    end_session,
    form_str,
    redirect,
    render,
    safe_next,
    start_session,
)

log = logging.getLogger("lakefront.web")


async def signup_page(request: Request) -> Response:
    nxt = safe_next(request.query_params.get("next"))
    return await render(request, "account/signup.html", {
        "title": "Create an account", "next": nxt, "values": {}, "errors": {}, "message": "",
    })


async def signup(request: Request) -> Response:
    form = await checked_form(request)
    values = {"email": form_str(form, "email"), "name": form_str(form, "name")}
    nxt = safe_next(form_str(form, "next"))
    password = form.get("password")
    password = password if isinstance(password, str) else ""
    # The app tier answers every sign-up alike, so whether the email was free shows only in the
    # sign-in that follows: it works for a new account (or its owner's own password), and fails
    # with a message that must not say the address is registered.
    try:
        await api(request).signup(values["email"], values["name"], password)
        token = await api(request).signin(values["email"], password)
    except ApiError as exc:
        if exc.status == 429:
            return await _throttled(request, "account/signup.html", "Create an account", nxt, values, exc)
        message = NEUTRAL_SIGNUP_REFUSAL if exc.status == 401 else (exc.detail or exc.title)
        return await render(request, "account/signup.html", {
            "title": "Create an account", "next": nxt, "values": values, "errors": exc.field_errors,
            "message": message,
        }, status=exc.status if exc.status in (400, 422) else 400)
    start_session(request, token.token, token.customer.name, token.customer.is_admin)
    return redirect(nxt)


NEUTRAL_SIGNUP_REFUSAL = ("We could not open an account with these details. If you have signed up before, "
                          "sign in instead.")


def throttled_message(retry_after_s: int | None) -> str:
    minutes = max(1, math.ceil((retry_after_s or 60) / 60))
    return f"Too many attempts; try again in {minutes} minute{'s' if minutes > 1 else ''}."


async def _throttled(request: Request, template: str, title: str, nxt: str, values: dict[str, str],
                     exc: ApiError) -> Response:
    response = await render(request, template, {
        "title": title, "next": nxt, "values": values, "errors": {}, "message": throttled_message(exc.retry_after_s),
    }, status=429)
    response.headers["Retry-After"] = str(exc.retry_after_s or 60)
    return response


async def signin_page(request: Request) -> Response:
    nxt = safe_next(request.query_params.get("next"))
    return await render(request, "account/signin.html", {
        "title": "Sign in", "next": nxt, "values": {}, "errors": {}, "message": "",
    })


async def signin(request: Request) -> Response:
    form = await checked_form(request)
    values = {"email": form_str(form, "email")}
    nxt = safe_next(form_str(form, "next"))
    password = form.get("password")
    password = password if isinstance(password, str) else ""
    try:
        token = await api(request).signin(values["email"], password)
    except ApiError as exc:
        if exc.status == 429:
            return await _throttled(request, "account/signin.html", "Sign in", nxt, values, exc)
        message = "Wrong email or password." if exc.status == 401 else (exc.detail or exc.title)
        return await render(request, "account/signin.html", {
            "title": "Sign in", "next": nxt, "values": values, "errors": exc.field_errors, "message": message,
        }, status=exc.status if exc.status in (400, 401, 422) else 400)
    start_session(request, token.token, token.customer.name, token.customer.is_admin)
    return redirect(nxt)


async def signout(request: Request) -> Response:
    await checked_form(request)
    if "token" in request.session:
        try:
            await api(request).signout()
        except (ApiError, AppUnavailable) as exc:
            # Forgetting the token here signs the browser out whatever the app tier says;
            # the token itself expires on its own.
            log.warning("sign-out not confirmed by the app tier: %s", exc)
    end_session(request)
    return redirect("/")


routes = [
    Route("/signup", signup_page, methods=["GET"], name="signup"),
    Route("/signup", signup, methods=["POST"]),
    Route("/signin", signin_page, methods=["GET"], name="signin"),
    Route("/signin", signin, methods=["POST"]),
    Route("/signout", signout, methods=["POST"], name="signout"),
]
