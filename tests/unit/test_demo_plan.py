"""Counts, calendar shape and random streams of the demo-data plan."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from lakefront.demo.plan import HISTORY_DAYS, Plan, allocate, day_weight, phase_rng, times_in_day

UNTIL = date(2026, 6, 1)


def plan(scale: float) -> Plan:
    return Plan.build(scale=scale, seed=1, until=UNTIL, max_categories=20)


def test_scale_one_is_a_thousand_products_in_twenty_categories() -> None:
    p = plan(1)
    assert (p.n_categories, p.n_products, p.n_customers, p.n_orders) == (20, 1000, 10_000, 100_000)


def test_tiny_scales_keep_a_browsable_catalog() -> None:
    p = plan(0.01)
    assert (p.n_categories, p.n_products, p.n_customers, p.n_orders) == (5, 10, 100, 1000)
    assert plan(0.0001).n_categories == 5
    assert plan(0.0001).n_products == 10


def test_categories_never_exceed_the_ones_defined() -> None:
    assert plan(50).n_categories == 20


def test_a_scale_of_zero_is_rejected() -> None:
    with pytest.raises(ValueError, match="scale"):
        plan(0)


def test_the_history_is_the_year_before_until_and_ends_at_its_midnight() -> None:
    p = plan(1)
    assert p.end == datetime(2026, 6, 1, tzinfo=UTC)
    assert p.end - p.start == timedelta(days=HISTORY_DAYS)
    days = p.days()
    assert len(days) == HISTORY_DAYS
    assert days[0] == p.start.date() and days[-1] == date(2026, 5, 31)


def test_allocate_splits_the_total_exactly_and_in_proportion() -> None:
    counts = allocate(1000, [1.0, 2.0, 3.0, 0.5])
    assert sum(counts) == 1000
    assert counts == [154, 308, 461, 77]
    assert sum(allocate(7, [1.0] * 365)) == 7


def test_weekends_weigh_more_than_weekdays_and_december_more_than_july() -> None:
    saturday, tuesday = date(2025, 10, 11), date(2025, 10, 7)
    assert day_weight(saturday, 100, 365) > day_weight(tuesday, 100, 365)
    december, july = date(2025, 12, 10), date(2025, 7, 9)  # both Wednesdays
    assert day_weight(december, 100, 365) > 1.5 * day_weight(july, 100, 365)


def test_the_shop_grows_over_the_year() -> None:
    day = date(2025, 10, 8)
    assert day_weight(day, 364, 365) > day_weight(day, 0, 365)


def test_times_in_a_day_are_sorted_and_inside_the_day() -> None:
    day = date(2026, 3, 3)
    times = times_in_day(random.Random(5), day, 500)
    assert times == sorted(times)
    assert all(t.date() == day and t.tzinfo is UTC for t in times)
    evening = sum(1 for t in times if 18 <= t.hour < 22)
    night = sum(1 for t in times if 2 <= t.hour < 6)
    assert evening > 3 * night


def test_each_phase_has_its_own_reproducible_random_stream() -> None:
    assert phase_rng(7, "orders").random() == phase_rng(7, "orders").random()
    assert phase_rng(7, "orders").random() != phase_rng(7, "events").random()
    assert phase_rng(7, "orders").random() != phase_rng(8, "orders").random()
