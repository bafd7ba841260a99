"""Accounts: sign-up that tells nobody who is registered, throttled sign-in, bearer tokens, sign-out."""

from __future__ import annotations

import logging
from typing import TypedDict

from lakefront.data.repos.rows import CustomerRow
from lakefront.data.types import utcnow
from lakefront.shop import tokens
from lakefront.shop.context import ShopContext
from lakefront.shop.errors import NotAuthenticated
from lakefront.shop.passwords import hash_password, needs_rehash, verify_password
from lakefront.shop.throttle import mask_email

log = logging.getLogger("lakefront.auth")

# A fixed hash to verify against when the email is unknown, so both failures cost the same time.
_DUMMY_HASH = hash_password("lakefront-no-such-user")
SIGN_UP_ANSWER = "sign in with this email and password to continue"
"""The one answer to every sign-up, whether it created an account or the email was taken."""


class PublicCustomer(TypedDict):
    id: int
    email: str
    name: str
    is_admin: bool


class SignUpAnswer(TypedDict):
    email: str
    detail: str


class SignedIn(TypedDict):
    token: str
    customer: PublicCustomer


def _public(row: CustomerRow) -> PublicCustomer:
    return {"id": row["id"], "email": row["email"], "name": row["name"], "is_admin": bool(row["is_admin"])}


def sign_up(ctx: ShopContext, *, email: str, name: str, password: str, address: str) -> SignUpAnswer:
    """Create the account unless the email is taken; the answer, and its cost, are the same either way.

    No token: handing one out would tell a new email from a taken one. The client signs in next,
    which works for whoever knows the account's password and is throttled for everyone else.
    """
    ctx.throttle.sign_up(email, address)
    password_hash = hash_password(password)  # in both cases, and outside the write transaction: slow on purpose
    with ctx.uow(write=True) as uow:
        created = uow.customers.add_if_new(email, name, password_hash, utcnow())
        uow.commit()
    log.info("sign-up %s account=%s address=%s", "created" if created else "refused: email taken",
             mask_email(email), address)
    return {"email": email, "detail": SIGN_UP_ANSWER}


def sign_in(ctx: ShopContext, *, email: str, password: str, address: str) -> SignedIn:
    attempt = ctx.throttle.sign_in(email, address)  # before any password work; raises Throttled
    try:
        with ctx.uow(write=True) as uow:
            row = uow.customers.by_email(email)
        verified = verify_password(row["password_hash"] if row else _DUMMY_HASH, password)
    except BaseException:
        attempt.abandoned()
        raise
    if row is None or not verified:
        attempt.failed()
        raise NotAuthenticated("wrong email or password")
    attempt.succeeded(row["id"])
    now = utcnow()
    with ctx.uow(write=True) as uow:
        if needs_rehash(row["password_hash"]):
            uow.customers.set_password_hash(row["id"], hash_password(password), now)
        token = tokens.issue(uow.customers, ctx.tokens, row["id"], now)
        uow.commit()
    return {"token": token, "customer": _public(row)}


def authenticate(ctx: ShopContext, token: str) -> PublicCustomer:
    """The customer a bearer token belongs to. Tokens live on the primary: a fresh sign-in must work."""
    with ctx.uow(write=True) as uow:
        row, changed = tokens.check(uow.customers, ctx.tokens, token, utcnow())
        if changed:
            uow.commit()
    if row is None:
        raise NotAuthenticated("invalid or expired token")
    return _public(row)


def sign_out(ctx: ShopContext, token: str) -> None:
    with ctx.uow(write=True) as uow:
        uow.customers.delete_token(tokens.token_hash(token))
        uow.commit()
