"""The demo-data generator against a real database and object store, and `lakefront seed`."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image

from lakefront.data import tables as t
from lakefront.data.endpoints import writer_url
from lakefront.data.engines import make_engine
from lakefront.data.migrations import migrate
from lakefront.data.objects import make_object_store
from lakefront.demo import DemoDataExists, SeedSummary, has_data, seed
from lakefront.settings import DatabaseSettings, Settings
from lakefront.shop.passwords import verify_password
from support.servers import MariaDBHandle

UNTIL = date(2026, 6, 1)
TABLES = (t.categories, t.products, t.customers, t.orders, t.order_lines, t.events)


@dataclass
class Seeded:
    settings: Settings
    summary: SeedSummary
    engine: sa.Engine

    def rows(self, query: sa.Executable) -> list[sa.Row[tuple[object, ...]]]:
        with self.engine.connect() as conn:
            return list(conn.execute(query).all())

    def scalar(self, query: sa.Executable) -> object:
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()


def _seeded(root: Path, *, scale: float, seed_value: int) -> Iterator[Seeded]:
    settings = Settings(var_dir=root)
    summary = seed(settings, scale=scale, seed=seed_value, until=UNTIL, progress=False)
    engine = make_engine(writer_url(settings), write=False)
    yield Seeded(settings, summary, engine)
    engine.dispose()


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    yield from _seeded(tmp_path_factory.mktemp("small"), scale=0.01, seed_value=11)


@pytest.fixture(scope="module")
def small_again(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    yield from _seeded(tmp_path_factory.mktemp("small-again"), scale=0.01, seed_value=11)


@pytest.fixture(scope="module")
def small_other_seed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    yield from _seeded(tmp_path_factory.mktemp("small-other"), scale=0.01, seed_value=12)


@pytest.fixture(scope="module")
def medium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    yield from _seeded(tmp_path_factory.mktemp("medium"), scale=0.05, seed_value=3)


def table_digests(engine: sa.Engine) -> dict[str, str]:
    digests = {}
    with engine.connect() as conn:
        for table in TABLES:
            digest = hashlib.sha256()
            for row in conn.execute(sa.select(table).order_by(*table.primary_key.columns)):
                digest.update(repr(tuple(row)).encode())
            digests[table.name] = digest.hexdigest()
    return digests


def object_digests(settings: Settings) -> dict[str, str]:
    store = make_object_store(settings, "images")
    return {info.key: hashlib.sha256(store.get(info.key)[0]).hexdigest() for info in store.list()}


# Determinism


def test_the_same_seed_gives_identical_rows_in_every_table(small: Seeded, small_again: Seeded) -> None:
    assert table_digests(small.engine) == table_digests(small_again.engine)


def test_the_same_seed_gives_identical_image_bytes(small: Seeded, small_again: Seeded) -> None:
    first = object_digests(small.settings)
    assert first, "no images were stored"
    assert first == object_digests(small_again.settings)


def test_a_different_seed_gives_different_rows_and_images(small: Seeded, small_other_seed: Seeded) -> None:
    ours, theirs = table_digests(small.engine), table_digests(small_other_seed.engine)
    assert all(ours[name] != theirs[name] for name in ours)
    assert object_digests(small.settings) != object_digests(small_other_seed.settings)


# Counts


def test_counts_follow_the_scale(small: Seeded, medium: Seeded) -> None:
    assert small.summary.counts["categories"] == 5
    assert small.summary.counts["products"] == 10
    assert small.summary.counts["customers"] == 100 + 2  # plus the demo admin and the demo shopper
    assert small.summary.counts["orders"] == 1000
    assert medium.summary.counts["products"] == 50
    assert medium.summary.counts["customers"] == 500 + 2
    assert medium.summary.counts["orders"] == 5000
    assert 1.5 < medium.summary.counts["order_lines"] / 5000 < 2.0


def test_the_summary_counts_are_the_rows_in_the_database(medium: Seeded) -> None:
    for table in TABLES:
        assert medium.scalar(sa.select(sa.func.count()).select_from(table)) == medium.summary.counts[table.name]
    assert "5,000 orders" in medium.summary.line()


def test_there_are_about_15_page_views_and_3_add_to_carts_per_order(medium: Seeded) -> None:
    kinds = dict(medium.rows(sa.select(t.events.c.kind, sa.func.count()).group_by(t.events.c.kind)))
    assert 13 < kinds["page_view"] / 5000 < 17
    assert 2.5 < kinds["add_to_cart"] / 5000 < 3.5


def test_some_sessions_are_anonymous_and_every_order_has_a_buying_session(medium: Seeded) -> None:
    anonymous = medium.scalar(sa.select(sa.func.count()).where(t.events.c.customer_id.is_(None)))
    assert isinstance(anonymous, int)
    assert 0.2 < anonymous / medium.summary.counts["events"] < 0.6
    carts = {(customer, product) for customer, product in medium.rows(
        sa.select(t.events.c.customer_id, t.events.c.product_id).where(t.events.c.kind == "add_to_cart"))}
    bought = medium.rows(sa.select(t.orders.c.customer_id, t.order_lines.c.product_id)
                         .join(t.order_lines, t.order_lines.c.order_id == t.orders.c.id))
    assert all((customer, product) in carts for customer, product in bought)


# Integrity


def test_every_line_references_an_existing_order_and_product(medium: Seeded) -> None:
    orphans = medium.scalar(
        sa.select(sa.func.count()).select_from(t.order_lines)
        .outerjoin(t.orders, t.orders.c.id == t.order_lines.c.order_id)
        .outerjoin(t.products, t.products.c.id == t.order_lines.c.product_id)
        .where(sa.or_(t.orders.c.id.is_(None), t.products.c.id.is_(None))))
    assert orphans == 0


def test_order_totals_and_item_counts_are_the_sums_of_their_lines(medium: Seeded) -> None:
    sums = (sa.select(t.order_lines.c.order_id, sa.func.sum(t.order_lines.c.line_total_cents).label("total"),
                      sa.func.sum(t.order_lines.c.quantity).label("units"))
            .group_by(t.order_lines.c.order_id).subquery())
    rows = medium.rows(sa.select(t.orders.c.total_cents, t.orders.c.item_count, sums.c.total, sums.c.units)
                       .join(sums, sums.c.order_id == t.orders.c.id))
    assert len(rows) == 5000
    assert all(total == line_total and items == line_items for total, items, line_total, line_items in rows)
    lines = medium.rows(sa.select(t.order_lines.c.quantity, t.order_lines.c.unit_price_cents,
                                  t.order_lines.c.line_total_cents))
    assert all(q * unit == total and q >= 1 for q, unit, total in lines)


def test_stock_is_never_negative_and_some_products_are_low(medium: Seeded) -> None:
    stocks = [stock for (stock,) in medium.rows(sa.select(t.products.c.stock))]
    assert min(stocks) >= 0
    assert any(stock <= 5 for stock in stocks)
    assert len(set(stocks)) > 10


def test_updated_at_is_never_before_created_at(medium: Seeded) -> None:
    for table in (t.categories, t.products, t.customers, t.orders, t.order_lines, t.events):
        earlier = medium.scalar(sa.select(sa.func.count()).select_from(table)
                                .where(table.c.updated_at < table.c.created_at))
        assert earlier == 0, table.name


def test_orders_and_events_lie_within_the_year_before_until(medium: Seeded) -> None:
    end = datetime(UNTIL.year, UNTIL.month, UNTIL.day, tzinfo=UTC)
    first, last = medium.rows(sa.select(sa.func.min(t.orders.c.placed_at), sa.func.max(t.orders.c.placed_at)))[0]
    assert end - timedelta(days=365) <= first and last < end
    first, last = medium.rows(sa.select(sa.func.min(t.events.c.occurred_at),
                                        sa.func.max(t.events.c.occurred_at)))[0]
    assert end - timedelta(days=365) <= first and last < end
    latest_update = medium.scalar(sa.select(sa.func.max(t.orders.c.updated_at)))
    assert isinstance(latest_update, datetime) and latest_update < end


def test_nothing_is_bought_before_the_product_existed_or_the_customer_signed_up(medium: Seeded) -> None:
    early_lines = medium.scalar(
        sa.select(sa.func.count()).select_from(t.order_lines)
        .join(t.products, t.products.c.id == t.order_lines.c.product_id)
        .where(t.order_lines.c.created_at < t.products.c.created_at))
    early_orders = medium.scalar(
        sa.select(sa.func.count()).select_from(t.orders)
        .join(t.customers, t.customers.c.id == t.orders.c.customer_id)
        .where(t.orders.c.placed_at < t.customers.c.created_at))
    assert (early_lines, early_orders) == (0, 0)


def test_popularity_is_the_units_sold_in_orders_not_cancelled(medium: Seeded) -> None:
    sold = dict(medium.rows(
        sa.select(t.order_lines.c.product_id, sa.func.sum(t.order_lines.c.quantity))
        .join(t.orders, t.orders.c.id == t.order_lines.c.order_id)
        .where(t.orders.c.status != "cancelled").group_by(t.order_lines.c.product_id)))
    for product_id, popularity in medium.rows(sa.select(t.products.c.id, t.products.c.popularity)):
        assert popularity == sold.get(product_id, 0)


def test_prices_are_integer_cents_and_lines_mostly_use_the_current_price(medium: Seeded) -> None:
    rows = medium.rows(sa.select(t.order_lines.c.unit_price_cents, t.products.c.price_cents)
                       .join(t.products, t.products.c.id == t.order_lines.c.product_id))
    same = sum(1 for unit, price in rows if unit == price)
    assert same / len(rows) > 0.8
    assert all(isinstance(price, int) and price > 0 for _, price in rows)


# Shape


def test_a_tenth_of_the_products_sell_most_of_the_units(medium: Seeded) -> None:
    units = sorted((p for (p,) in medium.rows(sa.select(t.products.c.popularity))), reverse=True)
    top = units[: len(units) // 10]
    # Three times their even share (a uniform demand would give about 0.1).
    assert sum(top) / sum(units) > 0.3


def test_weekend_days_average_more_orders_than_weekdays(medium: Seeded) -> None:
    per_day = Counter(placed.date() for (placed,) in medium.rows(sa.select(t.orders.c.placed_at)))
    weekend = [n for day, n in per_day.items() if day.weekday() >= 5]
    weekday = [n for day, n in per_day.items() if day.weekday() < 5]
    assert sum(weekend) / len(weekend) > 1.1 * sum(weekday) / len(weekday)


def test_december_has_more_orders_than_july(medium: Seeded) -> None:
    per_month = Counter(placed.month for (placed,) in medium.rows(sa.select(t.orders.c.placed_at)))
    assert per_month[12] > 1.5 * per_month[7]


def test_a_minority_of_customers_place_most_orders(medium: Seeded) -> None:
    per_customer = sorted((n for _, n in medium.rows(
        sa.select(t.orders.c.customer_id, sa.func.count()).group_by(t.orders.c.customer_id))), reverse=True)
    top_fifth = per_customer[: medium.summary.counts["customers"] // 5]
    assert sum(top_fifth) / sum(per_customer) > 0.5


def test_old_orders_are_delivered_recent_ones_in_progress_and_few_cancelled(medium: Seeded) -> None:
    end = datetime(UNTIL.year, UNTIL.month, UNTIL.day, tzinfo=UTC)
    rows = medium.rows(sa.select(t.orders.c.placed_at, t.orders.c.status))
    old = Counter(status for placed, status in rows if placed < end - timedelta(days=30))
    recent = Counter(status for placed, status in rows if placed >= end - timedelta(days=1))
    assert set(old) == {"delivered", "cancelled"}
    assert recent["placed"] + recent["shipped"] > recent["delivered"]
    cancelled = sum(1 for _, status in rows if status == "cancelled") / len(rows)
    assert 0.015 < cancelled < 0.05


# People


def test_the_demo_admin_signs_in_with_the_documented_password(small: Seeded) -> None:
    admin = small.rows(sa.select(t.customers).where(t.customers.c.email == "admin@lakefront.local"))[0]
    assert admin.is_admin is True
    assert verify_password(admin.password_hash, "lakefront-admin")
    assert not verify_password(admin.password_hash, "lakefront-demo")


def test_the_demo_shopper_signs_in_and_has_a_few_past_orders(small: Seeded) -> None:
    shopper = small.rows(sa.select(t.customers).where(t.customers.c.email == "customer@lakefront.local"))[0]
    assert shopper.is_admin is False
    assert verify_password(shopper.password_hash, "lakefront-demo")
    orders = small.scalar(sa.select(sa.func.count()).where(t.orders.c.customer_id == shopper.id))
    assert isinstance(orders, int) and 3 <= orders <= 10


def test_customers_have_unique_emails_and_only_the_demo_admin_is_admin(medium: Seeded) -> None:
    emails = [email for (email,) in medium.rows(sa.select(t.customers.c.email))]
    assert len(emails) == len(set(emails))
    admins = medium.rows(sa.select(t.customers.c.email).where(t.customers.c.is_admin.is_(True)))
    assert admins == [("admin@lakefront.local",)]


# Images


def test_every_product_image_and_thumbnail_exists_and_decodes(small: Seeded) -> None:
    store = make_object_store(small.settings, "images")
    products = small.rows(sa.select(t.products.c.image_key, t.products.c.thumb_key))
    assert len(products) == 10
    for image_key, thumb_key in products:
        for key, longest in ((image_key, small.settings.media.image_size),
                             (thumb_key, small.settings.media.thumb_size)):
            data, content_type = store.get(key)
            assert content_type == "image/jpeg"
            with Image.open(io.BytesIO(data)) as img:
                img.load()
                assert img.format == "JPEG"
                assert max(img.size) <= longest


def test_seeding_mariadb_gives_the_same_rows_as_sqlite(
        mariadb_server: MariaDBHandle, small: Seeded, tmp_path: Path) -> None:
    url = mariadb_server.fresh_url("seed")
    settings = Settings(var_dir=tmp_path, db=DatabaseSettings(writer_url=url))
    seed(settings, scale=0.01, seed=11, until=UNTIL, progress=False)
    engine = make_engine(url, write=False)
    try:
        assert table_digests(engine) == table_digests(small.engine)
    finally:
        engine.dispose()


# Refusal


def test_seeding_a_database_that_has_products_is_refused(small: Seeded) -> None:
    before = table_digests(small.engine)
    with pytest.raises(DemoDataExists):
        seed(small.settings, scale=0.01, seed=99, until=UNTIL, progress=False)
    assert table_digests(small.engine) == before


def test_has_data_is_false_for_a_new_or_empty_database_and_true_once_seeded(
        tmp_path: Path, small: Seeded) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.sqlite3'}", write=True)
    try:
        assert has_data(engine) is False
        migrate(engine)
        assert has_data(engine) is False
    finally:
        engine.dispose()
    assert has_data(small.engine) is True


# The command


def _lakefront(*args: str, var_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LAKEFRONT_")}
    env["LAKEFRONT_VAR_DIR"] = str(var_dir)
    return subprocess.run([str(Path(sys.executable).with_name("lakefront")), *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_command_rejects_a_malformed_until_date_in_one_line(tmp_path: Path) -> None:
    result = _lakefront("seed", "--until", "2026-02-30", var_dir=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "lakefront: --until must be a date as YYYY-MM-DD, got '2026-02-30'"
    assert not (tmp_path / "db").exists()


def test_the_command_refuses_a_seeded_database_in_one_line(small: Seeded) -> None:
    result = _lakefront("seed", "--scale", "0.01", var_dir=small.settings.var_dir)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "already has products" in result.stderr


def test_the_command_seeds_an_empty_database_and_prints_a_summary(tmp_path: Path) -> None:
    result = _lakefront("seed", "--scale", "0.01", "--seed", "5", "--until", "2026-01-15", var_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1,000 orders" in result.stdout + result.stderr
    engine = make_engine(f"sqlite:///{tmp_path / 'db' / 'lakefront.sqlite3'}", write=False)
    try:
        assert has_data(engine)
    finally:
        engine.dispose()
