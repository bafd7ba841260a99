"""TPC-W's workload mixes as data, and the choice of a shopper's next interaction. No I/O: the
Locust users (locustfile.py) ask this module what to do next, so the mix can be tested alone.

TPC-W (the TPC's transactional web e-commerce benchmark) splits a shopper's interactions into
browse (home, category, search, product) and order ones (sign up or in, cart, checkout, order
history), in three mixes: browsing 95/5, shopping 80/20, ordering 50/50. Think times between
interactions are exponential, truncated at ten times their mean, as TPC-W specifies.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

BROWSE = ("home", "category", "search", "product")
"""Browse interactions and their relative weights below: a shopper mostly looks at products."""
BROWSE_WEIGHTS = (1, 3, 2, 6)
ORDER = ("signup", "signin", "add_to_cart", "cart", "checkout", "orders")
"""Order interactions; which one comes next depends on the shopper's state (see next_order)."""
INTERACTIONS = BROWSE + ORDER + ("signup_form", "signin_form", "place_order", "order", "cart_remove")
"""Every name a sample can carry: the forms' pages before signup and signin, place_order (POST /checkout)
and order (the page after it) after checkout, cart_remove after an order refused for stock."""


@dataclass(frozen=True)
class Mix:
    name: str
    browse_share: float
    """The share of interactions that are browse interactions."""


MIXES = {m.name: m for m in (Mix("browsing", 0.95), Mix("shopping", 0.80), Mix("ordering", 0.50))}


@dataclass
class ShopperState:
    """What a shopper knows of their own session."""

    has_account: bool = False
    signed_in: bool = False
    may_sign_up: bool = True
    """False once sign-up was refused (throttled): the shopper then only browses."""
    cart: set[int] = field(default_factory=set)
    viewed: int | None = None
    """The last product they looked at: what they put in the cart."""


def think_time(rng: random.Random, mean_s: float) -> float:
    """An exponential think time, truncated at ten times its mean (TPC-W clause 5.3.1.1)."""
    if mean_s <= 0:
        return 0.0
    return min(rng.expovariate(1.0 / mean_s), 10.0 * mean_s)


def next_browse(rng: random.Random) -> str:
    return rng.choices(BROWSE, weights=BROWSE_WEIGHTS)[0]


def next_order(rng: random.Random, state: ShopperState) -> str:
    """The next order interaction a person in this state would take."""
    if not state.signed_in:
        return "signin" if state.has_account else "signup"
    if state.viewed is None:
        return "product"  # nothing seen yet to put in a cart: look at something first
    if not state.cart:
        return "add_to_cart"
    return rng.choices(("add_to_cart", "cart", "checkout", "orders"), weights=(3, 2, 4, 1))[0]


def next_interaction(rng: random.Random, mix: Mix, state: ShopperState) -> str:
    if rng.random() < mix.browse_share or (not state.signed_in and not state.may_sign_up):
        return next_browse(rng)
    return next_order(rng, state)
