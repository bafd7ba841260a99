"""Before any instance serves: the object store's buckets, the database's schema, the demo data on a first
run. `lakefront up` runs this once the data tier is up; `status` counts products with it."""

from __future__ import annotations

import logging

from lakefront.control.dataservers import endpoint
from lakefront.control.legacy_objects import migrate_legacy_objects
from lakefront.data.endpoints import writer_url
from lakefront.settings import Settings

log = logging.getLogger("lakefront.control")


def product_count(url: str, busy_timeout_ms: int = 15000) -> int:
    import sqlalchemy as sa

    from lakefront.data.engines import make_engine

    engine = make_engine(url, write=False, busy_timeout_ms=busy_timeout_ms, pool_size=1)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM products")).scalar_one())
    finally:
        engine.dispose()


def prepare_data(settings: Settings, *, seed: bool) -> None:
    """Move a one-store var/'s objects into their buckets, migrate the database, then load demo data into an
    empty one."""
    migrate_legacy_objects(settings)
    # Alembic narrates its plugins at INFO when imported; `up` logs one line for the migration instead.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from lakefront.data.engines import make_engine
    from lakefront.data.migrations import migrate

    engine = make_engine(writer_url(settings), write=True, busy_timeout_ms=settings.db.busy_timeout_ms)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    log.info("database migrated: %s", endpoint(settings, "database"))
    if not (seed and settings.demo.load_on_first_run):
        return
    count = product_count(writer_url(settings), settings.db.busy_timeout_ms)
    if count:
        log.info("demo data: database has %d products; not loading", count)
        return
    import lakefront.demo as demo

    seed_fn = getattr(demo, "seed", None)
    if seed_fn is None:
        log.info("demo data: lakefront.demo.seed not available yet; skipping")
        return
    log.info("demo data: loading scale=%s seed=%s", settings.demo.scale, settings.demo.seed)
    seed_fn(settings, scale=settings.demo.scale, seed=settings.demo.seed, progress=False)
    log.info("demo data: loaded")
