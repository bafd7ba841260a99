"""How much to generate and when: counts from the scale, the history window, the calendar's shape."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

HISTORY_DAYS = 365

# Relative order volume by weekday (Monday first): shoppers buy more at the weekend.
WEEKDAY_FACTOR = (0.92, 0.9, 0.92, 0.95, 1.05, 1.3, 1.22)

# Relative volume by month (January first): a summer dip and the November/December peak.
MONTH_FACTOR = (0.85, 0.8, 0.9, 0.95, 0.95, 0.85, 0.72, 0.78, 0.95, 1.0, 1.4, 1.65)

# Share of a day's orders by hour (UTC): quiet at night, busiest in the evening.
HOUR_WEIGHTS = (
    0.6, 0.4, 0.3, 0.25, 0.25, 0.35, 0.6, 1.0, 1.4, 1.7, 1.9, 2.0,
    2.2, 2.1, 1.9, 1.9, 2.0, 2.2, 2.5, 2.9, 3.1, 2.8, 2.0, 1.2,
)


def phase_rng(seed: int, phase: str) -> random.Random:
    """An independent generator per phase, so changing one phase leaves the others' rows alone."""
    # Seeding with a str hashes it with SHA-512: stable across processes, unlike hash().
    # Reproducible demo data, not secrets.
    return random.Random(f"lakefront-demo:{seed}:{phase}")  # nosec B311


@dataclass(frozen=True)
class Plan:
    scale: float
    seed: int
    until: date
    n_categories: int
    n_products: int
    n_customers: int
    n_orders: int

    @classmethod
    def build(cls, *, scale: float, seed: int, until: date, max_categories: int) -> Plan:
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale}")
        # Categories grow slower than products, so tiny scales still have a browsable catalog.
        n_categories = max(5, min(max_categories, round(20 * math.sqrt(scale))))
        return cls(
            scale=scale,
            seed=seed,
            until=until,
            n_categories=n_categories,
            n_products=max(10, round(1000 * scale)),
            n_customers=max(10, round(10_000 * scale)),
            n_orders=max(20, round(100_000 * scale)),
        )

    @property
    def end(self) -> datetime:
        """Exclusive end of the history: midnight UTC at the start of `until`, so nothing is in the future."""
        return datetime.combine(self.until, time(0), tzinfo=UTC)

    @property
    def start(self) -> datetime:
        return self.end - timedelta(days=HISTORY_DAYS)

    def days(self) -> list[date]:
        first = self.start.date()
        return [first + timedelta(days=i) for i in range(HISTORY_DAYS)]


def day_weight(day: date, index: int, total_days: int) -> float:
    """Relative order volume of one day: weekday x season x growth x a Black Friday week bump."""
    growth = 0.7 + 0.6 * index / max(1, total_days - 1)
    bump = 1.0
    if day.month == 11 and 22 <= day.day <= 30:
        bump = 1.5
    elif day.month == 12 and day.day > 22:
        bump = 0.7  # after the last shipping day before Christmas
    return WEEKDAY_FACTOR[day.weekday()] * MONTH_FACTOR[day.month - 1] * growth * bump


def allocate(total: int, weights: list[float]) -> list[int]:
    """Split `total` in proportion to `weights` exactly (largest remainder), without sampling noise."""
    weight_sum = sum(weights)
    exact = [total * w / weight_sum for w in weights]
    counts = [math.floor(x) for x in exact]
    short = total - sum(counts)
    by_remainder = sorted(range(len(weights)), key=lambda i: (counts[i] - exact[i], i))
    for i in by_remainder[:short]:
        counts[i] += 1
    return counts


def times_in_day(rng: random.Random, day: date, count: int) -> list[datetime]:
    """`count` sorted instants within `day` (UTC), following the hourly shape."""
    midnight = datetime.combine(day, time(0), tzinfo=UTC)
    hours = rng.choices(range(24), weights=HOUR_WEIGHTS, k=count)
    micros = sorted(h * 3_600_000_000 + rng.randrange(3_600_000_000) for h in hours)
    return [midnight + timedelta(microseconds=us) for us in micros]
