"""The clickstream: page views and add-to-cart events, the top of the view -> cart -> order funnel.

Every order has the session that led to it (its products viewed and added to the cart), and
around it sessions that bought nothing, many of them anonymous. Per order that makes about
15 page views and 3 add-to-cart events.
"""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from lakefront.data import tables as t
from lakefront.demo.customers import Customers
from lakefront.demo.orders import PlacedOrder, Popularity, pick_customer
from lakefront.demo.plan import HOUR_WEIGHTS, Plan
from lakefront.demo.writer import Sink, Tracker

ANONYMOUS_SHARE = 0.55
LANDING_PAGE_SHARE = 0.5


class _Day:
    """Events of one day, given ids in time order once the day is complete."""

    def __init__(self, start: datetime, end: datetime) -> None:
        self.start = start
        self.last = end - timedelta(microseconds=1)
        self.rows: list[tuple[datetime, str, str, int | None, int | None]] = []

    def add(self, when: datetime, kind: str, session: str, customer: int | None, product: int | None) -> None:
        self.rows.append((min(max(when, self.start), self.last), kind, session, customer, product))


def _session_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def _buying_session(rng: random.Random, order: PlacedOrder, popularity: Popularity, day: _Day) -> None:
    session = _session_id(rng)
    customer = order.customer_id
    when = order.placed_at - timedelta(seconds=rng.randrange(300, 2400))
    step = (order.placed_at - when) / (2 + 2 * len(order.product_ids) + 4)
    day.add(when, "page_view", session, customer, None)
    for _ in range(rng.randint(0, 4)):
        when += step
        day.add(when, "page_view", session, customer, popularity.pick(rng).id)
    for product_id in order.product_ids:
        when += step
        day.add(when, "page_view", session, customer, product_id)
        when += step
        day.add(when, "add_to_cart", session, customer, product_id)
    if rng.random() < 0.15:
        # Something added, then removed before checkout.
        day.add(when + step / 2, "add_to_cart", session, customer, popularity.pick(rng).id)


def _browsing_session(rng: random.Random, when: datetime, customers: Customers, popularity: Popularity,
                      day: _Day) -> None:
    session = _session_id(rng)
    customer = None if rng.random() < ANONYMOUS_SHARE else pick_customer(customers, rng, when)
    if rng.random() < LANDING_PAGE_SHARE:
        day.add(when, "page_view", session, customer, None)
    for _ in range(rng.randint(1, 5)):
        when += timedelta(seconds=rng.randrange(10, 240))
        product = popularity.pick(rng)
        day.add(when, "page_view", session, customer, product.id)
        if rng.random() < 0.12:
            when += timedelta(seconds=rng.randrange(5, 60))
            day.add(when, "add_to_cart", session, customer, product.id)


def generate_events(plan: Plan, rng: random.Random, orders: list[PlacedOrder], customers: Customers,
                    popularity: Popularity, sink: Sink, tracker: Tracker) -> None:
    next_id = itertools.count(1)
    for date, day_orders in itertools.groupby(orders, key=lambda o: o.placed_at.date()):
        start = datetime(date.year, date.month, date.day, tzinfo=UTC)
        day = _Day(max(start - timedelta(hours=1), plan.start), plan.end)
        batch = list(day_orders)
        for order in batch:
            _buying_session(rng, order, popularity, day)
            hours = rng.choices(range(24), weights=HOUR_WEIGHTS, k=rng.randint(1, 5))
            for hour in hours:
                when = start + timedelta(hours=hour, seconds=rng.randrange(3600))
                _browsing_session(rng, when, customers, popularity, day)
        day.rows.sort(key=lambda row: row[0])
        for when, kind, session, customer, product in day.rows:
            row: dict[str, Any] = {"id": next(next_id), "occurred_at": when, "kind": kind,
                                   "session_id": session, "customer_id": customer, "product_id": product,
                                   "created_at": when, "updated_at": when}
            sink.add(t.events, row)
        tracker.advance(len(batch))
    sink.flush()
