"""Deterministic demo data: a store's catalog, customers and a year of orders and clickstream.

The same seed, scale and `until` give identical rows on any engine, and identical image bytes
wherever the same Pillow build (and so the same JPEG encoder) is installed.
Everything is written in one transaction, so a database is either fully seeded or untouched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lakefront.data import tables as t
from lakefront.data.endpoints import writer_url
from lakefront.data.engines import make_engine
from lakefront.data.migrations import migrate
from lakefront.data.objects import make_object_store
from lakefront.demo.catalog import Product, build_catalog
from lakefront.demo.customers import build_customers, password_hashes
from lakefront.demo.events import generate_events
from lakefront.demo.images import ImageJob, image_keys
from lakefront.demo.orders import Popularity, generate_orders
from lakefront.demo.plan import Plan, phase_rng
from lakefront.demo.vocabulary import CATEGORIES
from lakefront.demo.writer import Phases, Sink
from lakefront.settings import Settings
from lakefront.shop.media import ImageLimits

__all__ = ["DemoDataExists", "SeedSummary", "has_data", "seed"]

TABLE_ORDER = ("categories", "products", "customers", "orders", "order_lines", "events")


class DemoDataExists(Exception):
    """The database already has products; demo data goes only into an empty store."""


@dataclass(frozen=True)
class SeedSummary:
    scale: float
    seed: int
    until: date
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    image_seconds: float = 0.0

    def line(self) -> str:
        tables = ", ".join(f"{self.counts.get(name, 0):,} {name.replace('_', ' ')}" for name in TABLE_ORDER)
        return (f"seeded scale {self.scale:g} (seed {self.seed}, 365 days before {self.until.isoformat()}): "
                f"{tables} in {self.seconds:.1f} s (images {self.image_seconds:.1f} s)")


def _products_exist(conn: sa.Connection) -> bool:
    return conn.execute(sa.select(t.products.c.id).limit(1)).first() is not None


def has_data(engine: Engine) -> bool:
    """True when the catalog has products (an unmigrated database has none)."""
    if not sa.inspect(engine).has_table("products"):
        return False
    with engine.connect() as conn:
        return _products_exist(conn)


def seed(settings: Settings, *, scale: float, seed: int, until: date | None = None,
         progress: bool = True) -> SeedSummary:
    """Migrate, then fill an empty database with demo data; DemoDataExists if it has products.

    History covers the 365 days before `until` (default: today, UTC); nothing is dated on or
    after `until`, so the default never produces rows in the future.
    """
    started = time.perf_counter()
    until = until or datetime.now(UTC).date()
    plan = Plan.build(scale=scale, seed=seed, until=until, max_categories=len(CATEGORIES))
    engine = make_engine(writer_url(settings), write=True, busy_timeout_ms=settings.db.busy_timeout_ms)
    jobs: list[ImageJob] = []
    try:
        migrate(engine)
        if has_data(engine):
            raise DemoDataExists("the database already has products; demo data only goes into an empty store")
        customer_hash, admin_hash = password_hashes(seed)
        limits = ImageLimits(settings.media.max_upload_bytes, settings.media.max_pixels,
                             settings.media.image_size, settings.media.thumb_size)
        phases = Phases(progress)
        with phases.running(), engine.begin() as conn:
            if _products_exist(conn):  # checked again under the write lock: another seeder may have won
                raise DemoDataExists("the database already has products")
            if conn.dialect.name == "sqlite":
                # The whole load is one transaction; a bigger page cache keeps SQLite from spilling
                # index pages to the WAL and reading them back (128 MiB instead of the default 2 MiB).
                conn.exec_driver_sql("PRAGMA cache_size = -131072")
            sink = Sink(conn)

            categories, products = build_catalog(plan, phase_rng(seed, "catalog"))
            for product in products:
                product.image_key, product.thumb_key = image_keys(product)
            images = ImageJob(products, seed, make_object_store(settings, "images"), limits,
                              phases.phase("categories, products, images", len(products)).advance)
            jobs.append(images)
            sink.extend(t.categories, [category.row() for category in categories])
            sink.extend(t.products, [product.row() for product in products])
            sink.flush()

            customers_tracker = phases.phase("customers", plan.n_customers)
            customers = build_customers(plan, phase_rng(seed, "customers"), customer_hash, admin_hash)
            for row in customers.rows:
                sink.add(t.customers, row)
            sink.flush()
            customers_tracker.done()

            popularity = Popularity.build(products, phase_rng(seed, "popularity"))
            placed = generate_orders(plan, phase_rng(seed, "orders"), products, customers, popularity, sink,
                                     phases.phase("orders, order lines", plan.n_orders))
            generate_events(plan, phase_rng(seed, "events"), placed, customers, popularity, sink,
                            phases.phase("events", plan.n_orders))
            _record_sales(conn, products)
            image_seconds = images.wait()
    finally:
        for job in jobs:
            job.stop()
        engine.dispose()
    summary = SeedSummary(scale=scale, seed=seed, until=until, counts=dict(sink.counts),
                          seconds=time.perf_counter() - started, image_seconds=image_seconds)
    if progress:
        phases.console.print(summary.line(), highlight=False, soft_wrap=True)
    return summary


def _record_sales(conn: sa.Connection, products: list[Product]) -> None:
    """Write each product's units sold, known only once the orders exist."""
    statement = (
        t.products.update()
        .where(t.products.c.id == sa.bindparam("product_id"))
        .values(popularity=sa.bindparam("units"), updated_at=sa.bindparam("touched"))
    )
    conn.execute(statement, [{"product_id": p.id, "units": p.popularity, "touched": p.updated_at}
                             for p in products])
