"""Customers: the demo admin, the demo shopper, and generated customers who signed up over time."""

from __future__ import annotations

import hashlib
import itertools
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from lakefront.demo.plan import HISTORY_DAYS, Plan
from lakefront.demo.vocabulary import EMAIL_DOMAINS, FIRST_NAMES, LAST_NAMES
from lakefront.shop.passwords import hash_password_with_salt

ADMIN_EMAIL = "admin@lakefront.local"
# The demo's documented sign-ins (README); a real deployment loads no demo data.
ADMIN_PASSWORD = "lakefront-admin"  # nosec B105
DEMO_EMAIL = "customer@lakefront.local"
DEMO_PASSWORD = "lakefront-demo"  # nosec B105
ADMIN_ID = 1
DEMO_CUSTOMER_ID = 2
FIRST_GENERATED_ID = 3


@dataclass(frozen=True)
class Customers:
    rows: list[dict[str, Any]]
    # Parallel to the generated customers (ids from FIRST_GENERATED_ID), sorted by sign-up time:
    signed_up: list[datetime]
    # Running sum of how often each generated customer shops; drawing from a prefix of it
    # picks only customers who had signed up by then.
    cumulative_weight: list[float]


def _salt(seed: int, purpose: str) -> bytes:
    return hashlib.sha256(f"lakefront-demo:{seed}:salt:{purpose}".encode()).digest()[:16]


def password_hashes(seed: int) -> tuple[str, str]:
    """(shopper hash, admin hash): two Argon2 hashes in all, shared by every demo customer."""
    return (hash_password_with_salt(DEMO_PASSWORD, _salt(seed, "customer")),
            hash_password_with_salt(ADMIN_PASSWORD, _salt(seed, "admin")))


def build_customers(plan: Plan, rng: random.Random, customer_hash: str, admin_hash: str) -> Customers:
    opened = plan.start - timedelta(days=730)
    signed_up: list[datetime] = []
    for _ in range(plan.n_customers):
        if rng.random() < 0.35:
            # Existing customers from the two years before the history window.
            signed_up.append(opened + timedelta(seconds=rng.randrange(86_400 * 730)))
        else:
            # Sign-ups during the year, more as the shop grows (density rising linearly).
            fraction = rng.random() ** 0.7
            signed_up.append(plan.start + timedelta(seconds=int(fraction * 86_400 * HISTORY_DAYS)))
    signed_up.sort()

    rows: list[dict[str, Any]] = [
        {"id": ADMIN_ID, "email": ADMIN_EMAIL, "name": "Demo Admin", "password_hash": admin_hash,
         "is_admin": True, "created_at": opened, "updated_at": opened},
        {"id": DEMO_CUSTOMER_ID, "email": DEMO_EMAIL, "name": "Demo Customer", "password_hash": customer_hash,
         "is_admin": False, "created_at": opened, "updated_at": opened},
    ]
    weights: list[float] = []
    for offset, created in enumerate(signed_up):
        customer_id = FIRST_GENERATED_ID + offset
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        local = f"{first}.{last}".lower().replace("ü", "ue")
        email = f"{local}.{customer_id}@{rng.choice(EMAIL_DOMAINS)}"
        # A few customers later changed their details.
        updated = created + timedelta(days=rng.randrange(1, 200)) if rng.random() < 0.1 else created
        updated = min(updated, plan.end - timedelta(seconds=1))
        rows.append({"id": customer_id, "email": email, "name": f"{first} {last}",
                     "password_hash": customer_hash, "is_admin": False,
                     "created_at": created, "updated_at": max(created, updated)})
        # Heavy-tailed loyalty: a minority of customers place most of the orders.
        weights.append(min(rng.paretovariate(1.1), 200.0))
    return Customers(rows=rows, signed_up=signed_up, cumulative_weight=list(itertools.accumulate(weights)))
