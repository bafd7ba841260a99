"""Accounts: sign-up, sign-in with opaque bearer tokens, sign-out."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from lakefront.data.types import utcnow
from lakefront.store.context import StoreContext
from lakefront.store.errors import Conflict, NotAuthenticated
from lakefront.store.passwords import hash_password, needs_rehash, verify_password

TOKEN_LIFETIME = timedelta(days=30)
# A fixed hash to verify against when the email is unknown, so both failures cost the same time.
_DUMMY_HASH = hash_password("lakefront-no-such-user")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "email": row["email"], "name": row["name"], "is_admin": bool(row["is_admin"])}


def _issue_token(ctx_uow: Any, customer_id: int) -> str:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    ctx_uow.customers.add_token(_token_hash(token), customer_id, now, now + TOKEN_LIFETIME)
    return token


def sign_up(ctx: StoreContext, *, email: str, name: str, password: str) -> dict[str, Any]:
    password_hash = hash_password(password)  # slow on purpose: outside the write transaction
    with ctx.uow(write=True) as uow:
        if uow.customers.email_taken(email):
            raise Conflict("an account with this email already exists", "email")
        customer_id = uow.customers.add(email, name, password_hash, utcnow())
        token = _issue_token(uow, customer_id)
        customer = uow.customers.by_id(customer_id)
        uow.commit()
    assert customer is not None
    return {"token": token, "customer": _public(customer)}


def sign_in(ctx: StoreContext, *, email: str, password: str) -> dict[str, Any]:
    with ctx.uow(write=True) as uow:
        row = uow.customers.by_email(email)
    if row is None:
        verify_password(_DUMMY_HASH, password)
        raise NotAuthenticated("wrong email or password")
    if not verify_password(row["password_hash"], password):
        raise NotAuthenticated("wrong email or password")
    with ctx.uow(write=True) as uow:
        if needs_rehash(row["password_hash"]):
            uow.customers.set_password_hash(row["id"], hash_password(password), utcnow())
        token = _issue_token(uow, row["id"])
        uow.commit()
    return {"token": token, "customer": _public(row)}


def authenticate(ctx: StoreContext, token: str) -> dict[str, Any]:
    """The customer a bearer token belongs to. Tokens live on the primary: a fresh sign-in must work."""
    with ctx.uow(write=True) as uow:
        row = uow.customers.by_token(_token_hash(token), utcnow())
    if row is None:
        raise NotAuthenticated("invalid or expired token")
    return _public(row)


def sign_out(ctx: StoreContext, token: str) -> None:
    with ctx.uow(write=True) as uow:
        uow.customers.delete_token(_token_hash(token))
        uow.commit()
