"""The lake's compute: DuckDB (embedded, the default) and Spark (the EMR role), behind one interface (base.py).

Spark is imported only when asked for: starting a JVM, or even importing pyspark, is not free.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakefront.analytics.compute.base import Compute, ComputeError

if TYPE_CHECKING:
    from lakefront.settings import Settings

ENGINES = ("duckdb", "spark")

__all__ = ["ENGINES", "Compute", "ComputeError", "open_compute"]


def open_compute(settings: Settings, name: str | None = None) -> Compute:
    """Start the engine `name` (default: settings.process_engine)."""
    chosen = name or settings.process_engine
    if chosen == "duckdb":
        from lakefront.analytics.compute.duckdb import DuckDBCompute

        return DuckDBCompute(settings)
    if chosen == "spark":
        from lakefront.analytics.compute.spark import SparkCompute

        return SparkCompute(settings)
    raise ComputeError(f"unknown engine {chosen!r}; choose one of {', '.join(ENGINES)}")
