"""Demo data for a benchmark: seeded once per var dir, reused by later runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from typing import Any

from lakefront.data.endpoints import writer_url


def seed_once(settings: Any, *, scale: float, seed: int, until: date, step: Callable[[str], None]) -> None:
    """Seed the embedded database of `settings` unless it already holds demo data."""
    from lakefront.data.engines import make_engine
    from lakefront.demo import has_data
    from lakefront.demo import seed as seed_demo

    settings.var_dir.mkdir(parents=True, exist_ok=True)
    if settings.sqlite_path.exists():
        engine = make_engine(writer_url(settings), write=False, busy_timeout_ms=1000)
        try:
            if has_data(engine):
                return
        finally:
            engine.dispose()
    step(f"seeding scale {scale} into {settings.var_dir}")
    began = time.perf_counter()
    seed_demo(settings, scale=scale, seed=seed, until=until, progress=False)
    step(f"seeded in {time.perf_counter() - began:.0f} s")
