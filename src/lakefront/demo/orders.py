"""A year of orders and their lines, shaped like a real shop's history."""

from __future__ import annotations

import itertools
import random
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta

from lakefront.data import tables as t
from lakefront.demo.catalog import Product
from lakefront.demo.customers import DEMO_CUSTOMER_ID, FIRST_GENERATED_ID, Customers
from lakefront.demo.plan import HISTORY_DAYS, Plan, allocate, day_weight, times_in_day
from lakefront.demo.writer import Sink, Tracker

LINE_COUNTS, LINE_COUNT_WEIGHTS = (1, 2, 3, 4), (55, 25, 13, 7)
QUANTITIES, QUANTITY_WEIGHTS = (1, 2, 3), (85, 11, 4)
CANCEL_RATE = 0.03
# Zipf-Mandelbrot: the offset keeps the best seller near 6% of units at scale 1 rather than 15%.
ZIPF_EXPONENT = 1.15
ZIPF_OFFSET = 3
DEMO_CUSTOMER_ORDERS = (0.12, 0.4, 0.7, 0.93, 0.995)


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    """What the clickstream needs to know about an order: who bought what, when."""

    placed_at: datetime
    customer_id: int
    product_ids: tuple[int, ...]


@dataclass(frozen=True)
class Popularity:
    """Zipf-like demand: a product's rank in a shuffled catalog sets how often it is bought and viewed."""

    products: list[Product]
    cumulative: list[float]

    @classmethod
    def build(cls, products: list[Product], rng: random.Random) -> Popularity:
        ranked = rng.sample(products, len(products))
        weights = [1.0 / (rank + 1 + ZIPF_OFFSET) ** ZIPF_EXPONENT for rank in range(len(ranked))]
        return cls(products=ranked, cumulative=list(itertools.accumulate(weights)))

    def pick(self, rng: random.Random) -> Product:
        index = bisect_right(self.cumulative, rng.random() * self.cumulative[-1])
        return self.products[min(index, len(self.products) - 1)]

    def pick_distinct(self, rng: random.Random, count: int) -> list[Product]:
        chosen: list[Product] = []
        while len(chosen) < count:
            product = self.pick(rng)
            if product not in chosen:
                chosen.append(product)
        return chosen


def pick_customer(customers: Customers, rng: random.Random, when: datetime) -> int:
    """A customer who had signed up by `when`, loyal customers more often."""
    signed_up = bisect_right(customers.signed_up, when)
    if signed_up == 0:
        return DEMO_CUSTOMER_ID
    cumulative = customers.cumulative_weight
    index = bisect_right(cumulative, rng.random() * cumulative[signed_up - 1], 0, signed_up)
    return FIRST_GENERATED_ID + min(index, signed_up - 1)


def _status(rng: random.Random, placed: datetime, end: datetime) -> tuple[str, datetime]:
    """Status as of the end of the history, from when the order would ship and arrive."""
    last_moment = end - timedelta(microseconds=1)
    if rng.random() < CANCEL_RATE:
        return "cancelled", min(last_moment, placed + timedelta(minutes=rng.randrange(5, 36 * 60)))
    shipped = placed + timedelta(minutes=rng.randrange(6 * 60, 48 * 60))
    delivered = shipped + timedelta(minutes=rng.randrange(24 * 60, 6 * 24 * 60))
    if delivered < end:
        return "delivered", delivered
    if shipped < end:
        return "shipped", shipped
    return "placed", placed


def generate_orders(plan: Plan, rng: random.Random, products: list[Product], customers: Customers,
                    popularity: Popularity, sink: Sink, tracker: Tracker) -> list[PlacedOrder]:
    """Insert the orders and lines through `sink`; update products' popularity and updated_at."""
    days = plan.days()
    per_day = allocate(plan.n_orders, [day_weight(day, i, HISTORY_DAYS) for i, day in enumerate(days)])
    demo_orders = {max(1, round(plan.n_orders * f)) for f in DEMO_CUSTOMER_ORDERS}

    placed_orders: list[PlacedOrder] = []
    order_id = 0
    line_id = 0
    for day, count in zip(days, per_day, strict=True):
        for placed in times_in_day(rng, day, count):
            order_id += 1
            customer_id = DEMO_CUSTOMER_ID if order_id in demo_orders else pick_customer(customers, rng, placed)
            status, updated = _status(rng, placed, plan.end)
            n_lines = rng.choices(LINE_COUNTS, LINE_COUNT_WEIGHTS)[0]
            chosen = popularity.pick_distinct(rng, min(n_lines, len(products)))
            total = 0
            items = 0
            lines = []
            for product in chosen:
                line_id += 1
                quantity = rng.choices(QUANTITIES, QUANTITY_WEIGHTS)[0]
                unit = product.price_at(placed)
                total += unit * quantity
                items += quantity
                lines.append({"id": line_id, "order_id": order_id, "product_id": product.id,
                              "quantity": quantity, "unit_price_cents": unit,
                              "line_total_cents": unit * quantity, "created_at": placed, "updated_at": placed})
                if status != "cancelled":
                    product.popularity += quantity
                    product.updated_at = max(product.updated_at, placed)
            sink.add(t.orders, {"id": order_id, "customer_id": customer_id, "status": status,
                                "total_cents": total, "item_count": items, "idempotency_key": None,
                                "placed_at": placed, "created_at": placed, "updated_at": updated})
            sink.extend(t.order_lines, lines)
            placed_orders.append(PlacedOrder(placed, customer_id, tuple(p.id for p in chosen)))
        tracker.advance(count)
    sink.flush()
    return placed_orders
