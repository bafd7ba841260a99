"""The interface every compute engine implements (DuckDB embedded, Spark in the EMR role).

"Compute", not "engines": in this codebase an engine is SQLAlchemy's (data/engines.py); what runs the models is
the lake's compute, as EMR or Athena is on AWS.

The runner (analytics/process.py) drives an engine in three steps:

1. ``register_raw(table, sources, schema)`` once per raw table a run needs: a view ``raw_<table>`` over the
   data files of the table's current Iceberg snapshot (its scan plan: Parquet files, no delete files), given as
   local paths, or as ``s3://bucket/key`` URLs when the engine's ``reads_s3`` is true. Files written before a
   column was added lack it: the view unifies schemas by column name and has exactly the columns of ``schema``
   (a missing column reads as null). ``sources`` may
   be empty: the view then has ``schema``'s columns and no rows.
2. ``run_model(name, sql)`` once per model, in dependency order: materialize the model as a table ``name``
   (replacing one of that name). ``sql`` is one SELECT in the ONE dialect of the model files, DuckDB SQL;
   engines that speak another dialect translate it (Spark: sqlglot, read="duckdb", write="spark").
3. ``to_arrow(name)`` for each mart: the table's rows as pyarrow, columns in the SELECT's order, BIGINT as
   int64, DOUBLE as float64, DATE as date32, BOOLEAN as bool, strings as string. Row order is not defined.

Sessions run in UTC, so a timestamp's date is its UTC date (``CAST(ts AS DATE)``) in every engine.
Failures raise ComputeError with one line naming the model or table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import pyarrow as pa

from lakefront.analytics.errors import ComputeError

__all__ = ["Compute", "ComputeError"]


class Compute(Protocol):
    name: str
    """``duckdb`` or ``spark``: what the CLI prints and ModelResult records."""
    reads_s3: bool
    """Whether register_raw accepts s3:// URLs; if not, the runner stages S3 files into a local directory."""

    def register_raw(self, table: str, sources: Sequence[str], schema: pa.Schema) -> None:
        """Create (or replace) the view ``raw_<table>`` over `sources` (Parquet), with `schema`'s columns."""
        ...

    def run_model(self, name: str, sql: str) -> None:
        """Materialize the SELECT `sql` (DuckDB SQL) as the table `name`, replacing any previous one."""
        ...

    def to_arrow(self, name: str) -> pa.Table:
        """The rows of the table `name`."""
        ...

    def close(self) -> None:
        """Release the engine's resources (connections, the Spark session); safe to call twice."""
        ...
