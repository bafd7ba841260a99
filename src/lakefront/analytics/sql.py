"""Interactive SQL over the lake (the Athena/Presto role): `lakefront sql "SELECT ..."` and `lakefront sql` (a shell).

DuckDB, in memory, with one view per table of the lake's catalog under the catalog's name (``raw_orders``,
``mart_daily_sales``), each over the table's current snapshot through DuckDB's own Iceberg reader
(``iceberg_scan`` of its metadata file): the same tables any other engine sees, read by a third-party reader.

Read-only, three ways: only SELECT-like statements (SELECT, WITH, FROM, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN) are
run; files outside the lake's directory or bucket prefix cannot be opened, so COPY TO and read_csv('/etc/...')
fail; and the configuration is locked after setup, so no statement can switch either back. Views may not be
dropped either (a DROP is not SELECT-like). A query result can be written to a file by the CLI (``--output``) in
Parquet, CSV, JSON Lines or Avro (formats.py), never by SQL.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from lakefront.analytics.compute.duckdb import connect, quote_ident, quote_str
from lakefront.analytics.errors import ComputeError, QueryError
from lakefront.analytics.lake import Lake
from lakefront.settings import Settings

READ_ONLY = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}

__all__ = ["LakeSQL", "QueryResult"]


@dataclass(frozen=True)
class QueryResult:
    table: pa.Table
    seconds: float


class LakeSQL:
    """A read-only DuckDB session over the lake's tables; close() when done."""

    def __init__(self, settings: Settings, lake: Lake | None = None) -> None:
        owned = lake is None
        lake = Lake(settings) if lake is None else lake
        try:
            self.tables = lake.tables()
            root = lake.root
        finally:
            if owned:
                lake.close()
        try:
            self._conn, problem = connect(settings, settings.analytics.duckdb_memory_limit, ("avro", "iceberg"))
        except ComputeError as exc:
            raise QueryError(str(exc)) from None
        if problem:
            raise QueryError(problem.split(";")[0])
        try:
            for name, location in sorted(self.tables.items()):
                # Names come from the catalog (validated identifiers), quoted anyway; the location is a literal.
                self._conn.execute(f"CREATE VIEW {quote_ident(name)} AS "  # nosec B608
                                   f"SELECT * FROM iceberg_scan({quote_str(location)})")
            allowed = root.removeprefix("file://") + "/"
            self._conn.execute(f"SET allowed_directories = [{quote_str(allowed)}]")
            self._conn.execute("SET enable_external_access = false")
            self._conn.execute("SET lock_configuration = true")
        except duckdb.Error as exc:
            self._conn.close()
            raise QueryError(f"cannot open the lake's tables: {_first_line(exc)}") from None

    def query(self, sql: str) -> QueryResult:
        """Run read-only statements; the last one's rows. QueryError (DuckDB's message) otherwise."""
        try:
            statements = duckdb.extract_statements(sql)
        except duckdb.Error as exc:
            raise QueryError(_first_line(exc)) from None
        if not statements:
            raise QueryError("no SQL statement given")
        for statement in statements:
            if statement.type not in READ_ONLY:
                raise QueryError(f"the lake is read-only here: {statement.type.name} statements are not run "
                                 "(SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE and EXPLAIN are)")
        began = time.perf_counter()
        try:
            table = pa.table({})
            for statement in statements:
                table = self._conn.execute(statement).to_arrow_table()
        except duckdb.Error as exc:
            raise QueryError(_first_line(exc)) from None
        return QueryResult(table, time.perf_counter() - began)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> LakeSQL:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
