"""Processing engines: DuckDB (embedded, the default) and Spark (the EMR role).

Spark is imported only when asked for: starting a JVM, or even importing pyspark, is not free.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakefront.analytics.engines.base import Engine, EngineError

if TYPE_CHECKING:
    from lakefront.settings import Settings

ENGINES = ("duckdb", "spark")

__all__ = ["ENGINES", "Engine", "EngineError", "open_engine"]


def open_engine(settings: Settings, name: str | None = None) -> Engine:
    """Start the engine `name` (default: settings.process_engine)."""
    chosen = name or settings.process_engine
    if chosen == "duckdb":
        from lakefront.analytics.engines.duckdb import DuckDBEngine

        return DuckDBEngine(settings)
    if chosen == "spark":
        from lakefront.analytics.engines.spark import SparkEngine

        return SparkEngine(settings)
    raise EngineError(f"unknown engine {chosen!r}; choose one of {', '.join(ENGINES)}")
