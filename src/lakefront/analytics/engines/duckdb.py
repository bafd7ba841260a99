"""The DuckDB engine: embedded, in-process, the default (and what the embedded profile runs).

It reads the lake's Parquet files where they are: local paths for the directory store, and ``s3://`` URLs for an
S3 store through the httpfs extension. httpfs cannot be downloaded at run time here, so it is installed offline from
the PyPI package duckdb-extension-httpfs (built for exactly this DuckDB version) into a private extension directory
under var/, with automatic installing and loading of extensions turned off: DuckDB never reaches the network for
code. If httpfs cannot be set up, ``reads_s3`` is false and ``s3_problem`` says why; the runner then stages the
files locally instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import pyarrow as pa

from lakefront.analytics.engines.base import EngineError
from lakefront.settings import Settings

_SQL_TYPES = {pa.int64(): "BIGINT", pa.bool_(): "BOOLEAN", pa.float64(): "DOUBLE", pa.string(): "VARCHAR",
              pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ"}


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def httpfs_extension_file() -> Path:
    """The httpfs.duckdb_extension that the duckdb-extension-httpfs package ships for this DuckDB version."""
    import duckdb_extension_httpfs

    package_dir = Path(next(iter(duckdb_extension_httpfs.__path__)))
    found = sorted(package_dir.rglob(f"v{duckdb.__version__}/**/httpfs.duckdb_extension"))
    if not found:
        raise EngineError(f"duckdb-extension-httpfs has no httpfs extension for DuckDB {duckdb.__version__}")
    return found[0]


class DuckDBEngine:
    name = "duckdb"

    def __init__(self, settings: Settings) -> None:
        self.reads_s3 = False
        self.s3_problem: str | None = None
        self._settings = settings
        base = settings.var_dir / "duckdb"
        self._extensions = base / "extensions"
        (base / "tmp").mkdir(parents=True, exist_ok=True)
        try:
            self._conn = duckdb.connect(":memory:", config={
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                "extension_directory": str(self._extensions),
                "memory_limit": settings.process.duckdb_memory_limit,
                "temp_directory": str(base / "tmp"),
            })
            # A timestamp's date must be its UTC date whatever the machine's zone (ICU is built in).
            self._conn.execute("SET TimeZone = 'UTC'")
        except duckdb.Error as exc:
            raise EngineError(f"cannot start DuckDB: {_first_line(exc)}") from None
        if settings.objects_backend == "s3":
            try:
                self._setup_s3()
                self.reads_s3 = True
            except (duckdb.Error, EngineError, ImportError) as exc:
                self.s3_problem = f"DuckDB cannot read S3 directly ({_first_line(exc)}); staging files locally"

    def _setup_s3(self) -> None:
        self._extensions.mkdir(parents=True, exist_ok=True)
        self._conn.execute(f"INSTALL {quote_str(str(httpfs_extension_file()))}")
        self._conn.execute("LOAD httpfs")
        objects = self._settings.objects
        options = [
            "TYPE s3",
            f"KEY_ID {quote_str(objects.access_key)}",
            f"SECRET {quote_str(objects.secret_key.get_secret_value())}",
            f"REGION {quote_str(objects.region)}",
        ]
        endpoint = self._settings.s3_endpoint
        if endpoint:
            url = urlsplit(endpoint)
            options += [f"ENDPOINT {quote_str(url.netloc)}", "URL_STYLE 'path'",
                        f"USE_SSL {'true' if url.scheme == 'https' else 'false'}"]
        self._conn.execute(f"CREATE OR REPLACE SECRET lakefront_lake ({', '.join(options)})")

    def register_raw(self, table: str, sources: Sequence[str], schema: pa.Schema) -> None:
        view = quote_ident(f"raw_{table}")
        if sources:
            files = ", ".join(quote_str(source) for source in sources)
            columns = ", ".join(quote_ident(field.name) for field in schema)
            # Column names come from the lake's own schema, quoted; file names are quoted literals.
            sql = f"SELECT {columns} FROM read_parquet([{files}], union_by_name = true)"  # nosec B608
        else:
            columns = ", ".join(f"CAST(NULL AS {_SQL_TYPES.get(f.type, 'VARCHAR')}) AS {quote_ident(f.name)}"
                                for f in schema)
            sql = f"SELECT {columns} WHERE false"
        try:
            self._conn.execute(f"CREATE OR REPLACE VIEW {view} AS {sql}")
        except duckdb.Error as exc:
            raise EngineError(f"raw table {table}: {_first_line(exc)}") from None

    def run_model(self, name: str, sql: str) -> None:
        try:
            self._conn.execute(f"CREATE OR REPLACE TABLE {quote_ident(name)} AS {sql}")
        except duckdb.Error as exc:
            raise EngineError(f"model {name}: {_first_line(exc)}") from None

    def to_arrow(self, name: str) -> pa.Table:
        try:
            return self._conn.table(quote_ident(name)).to_arrow_table()
        except duckdb.Error as exc:
            raise EngineError(f"model {name}: {_first_line(exc)}") from None

    def close(self) -> None:
        self._conn.close()
