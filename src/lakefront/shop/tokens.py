"""Bearer tokens: opaque random strings, stored only as their SHA-256, with two lifetimes.

A token dies when unused for `idle` (its expires_at) or `absolute` after sign-in (created_at +
absolute), whichever comes first. Use pushes expires_at forward, but only once its last renewal is
`renew_after` old, so an active shopper costs one write per interval rather than one per request.
Expired tokens are deleted when they are next presented and when their owner signs in again.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from lakefront.data.repos.customers import CustomerRepo
from lakefront.data.repos.rows import TokenOwner


@dataclass(frozen=True)
class TokenPolicy:
    """The lifetimes; the composition root fills them from settings.auth (defaults documented there)."""

    idle: timedelta = timedelta(hours=12)
    absolute: timedelta = timedelta(days=7)
    renew_after: timedelta = timedelta(minutes=15)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(repo: CustomerRepo, policy: TokenPolicy, customer_id: int, now: datetime) -> str:
    """A new token for the customer; the customer's expired ones go at the same time."""
    repo.delete_expired_tokens(customer_id, now)
    token = secrets.token_urlsafe(32)
    repo.add_token(token_hash(token), customer_id, now, now + min(policy.idle, policy.absolute))
    return token


def check(repo: CustomerRepo, policy: TokenPolicy, token: str, now: datetime) -> tuple[TokenOwner | None, bool]:
    """(the customer the token belongs to or None, whether the caller must commit a change)."""
    digest = token_hash(token)
    row = repo.by_token(digest)
    if row is None:
        return None, False
    end_of_life = row["created_at"] + policy.absolute
    # Both bounds are checked: a token issued under a longer policy still dies at this one's.
    if row["expires_at"] <= now or end_of_life <= now:
        repo.delete_token(digest)
        return None, True
    renewed = min(now + policy.idle, end_of_life)
    last_renewal = row["expires_at"] - policy.idle
    if now - last_renewal >= policy.renew_after and renewed > row["expires_at"]:
        repo.renew_token(digest, renewed)
        return row, True
    return row, False
