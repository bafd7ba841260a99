"""The generated catalog and customers, built in memory."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from lakefront.demo.catalog import build_catalog, slugify
from lakefront.demo.customers import ADMIN_ID, DEMO_CUSTOMER_ID, build_customers
from lakefront.demo.orders import Popularity
from lakefront.demo.plan import Plan, phase_rng
from lakefront.demo.vocabulary import CATEGORIES

PLAN = Plan.build(scale=0.2, seed=4, until=date(2026, 6, 1), max_categories=len(CATEGORIES))


def test_the_same_seed_builds_the_same_catalog() -> None:
    _, first = build_catalog(PLAN, phase_rng(4, "catalog"))
    _, second = build_catalog(PLAN, phase_rng(4, "catalog"))
    assert [p.row() for p in first] == [p.row() for p in second]


def test_skus_and_slugs_are_unique_and_ids_follow_creation_time() -> None:
    categories, products = build_catalog(PLAN, phase_rng(4, "catalog"))
    assert len(categories) == PLAN.n_categories and len(products) == PLAN.n_products
    assert len({p.sku for p in products}) == len(products)
    assert len({p.slug for p in products}) == len(products)
    assert len({c.slug for c in categories}) == len(categories)
    assert [p.id for p in products] == list(range(1, len(products) + 1))
    assert all(a.created_at <= b.created_at for a, b in itertools.pairwise(products))
    assert all(p.created_at < PLAN.start for p in products)


def test_every_category_has_products_priced_within_its_range() -> None:
    categories, products = build_catalog(PLAN, phase_rng(4, "catalog"))
    assert {p.category.id for p in products} == {c.id for c in categories}
    for product in products:
        low, high = product.category.spec.price_range_cents
        assert low - 100 <= product.price_cents <= high + 100
        assert product.price_cents % 100 in (49, 99)


def test_stock_varies_with_some_products_low_or_sold_out() -> None:
    _, products = build_catalog(Plan.build(scale=1, seed=4, until=date(2026, 6, 1), max_categories=20),
                                phase_rng(4, "catalog"))
    stocks = [p.stock for p in products]
    assert min(stocks) == 0
    assert 0.05 < sum(1 for s in stocks if 0 < s <= 5) / len(stocks) < 0.2
    assert max(stocks) > 100


def test_a_changed_price_applies_only_after_the_change() -> None:
    _, products = build_catalog(PLAN, phase_rng(4, "catalog"))
    changed = [p for p in products if p.price_changed_at is not None]
    assert changed
    product = changed[0]
    assert product.price_changed_at is not None and product.old_price_cents is not None
    assert product.price_at(product.price_changed_at - timedelta(seconds=1)) == product.old_price_cents
    assert product.price_at(product.price_changed_at) == product.price_cents
    assert product.updated_at >= product.price_changed_at


def test_slugify_makes_url_safe_slugs() -> None:
    assert slugify("Chef's Knife & Board") == "chefs-knife-board"


def test_popular_products_are_picked_far_more_often() -> None:
    _, products = build_catalog(PLAN, phase_rng(4, "catalog"))
    popularity = Popularity.build(products, phase_rng(4, "popularity"))
    rng = phase_rng(4, "picks")
    counts: dict[int, int] = {}
    for _ in range(20_000):
        product = popularity.pick(rng)
        counts[product.id] = counts.get(product.id, 0) + 1
    top = sorted(counts.values(), reverse=True)[: len(products) // 10]
    assert sum(top) / 20_000 > 0.4
    assert len(popularity.pick_distinct(rng, 4)) == len({p.id for p in popularity.pick_distinct(rng, 4)})


def test_customers_sign_up_in_order_with_unique_emails_and_fixed_demo_accounts() -> None:
    customers = build_customers(PLAN, phase_rng(4, "customers"), "customer-hash", "admin-hash")
    assert len(customers.rows) == PLAN.n_customers + 2
    assert customers.rows[ADMIN_ID - 1]["email"] == "admin@lakefront.local"
    assert customers.rows[ADMIN_ID - 1]["is_admin"] is True
    assert customers.rows[ADMIN_ID - 1]["password_hash"] == "admin-hash"
    assert customers.rows[DEMO_CUSTOMER_ID - 1]["email"] == "customer@lakefront.local"
    assert len({row["email"] for row in customers.rows}) == len(customers.rows)
    assert customers.signed_up == sorted(customers.signed_up)
    assert all(row["updated_at"] >= row["created_at"] for row in customers.rows)
    assert all(row["created_at"] < PLAN.end for row in customers.rows)
    assert sum(1 for row in customers.rows if row["is_admin"]) == 1
