"""DuckDB: embedded, in-process, the default compute (and what the embedded profile runs).

It reads the lake's Parquet files where they are: local paths for the directory store, and ``s3://`` URLs for an
S3 store through the httpfs extension. Extensions cannot be downloaded at run time here, so httpfs (and, for the
SQL shell, iceberg and avro) are installed offline from the PyPI packages duckdb-extension-<name> (built for
exactly this DuckDB version) into a private extension directory under var/, with automatic installing and loading
of extensions turned off: DuckDB never reaches the network for code. If httpfs cannot be set up, ``reads_s3`` is
false and ``s3_problem`` says why; the runner then stages the files locally instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import pyarrow as pa

from lakefront.analytics.errors import ComputeError
from lakefront.settings import Settings

_SQL_TYPES = {pa.int64(): "BIGINT", pa.bool_(): "BOOLEAN", pa.float64(): "DOUBLE", pa.string(): "VARCHAR",
              pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ"}


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def extension_file(name: str) -> Path:
    """The <name>.duckdb_extension that PyPI's duckdb-extension-<name> ships for this DuckDB version."""
    import importlib

    try:
        package = importlib.import_module(f"duckdb_extension_{name}")
    except ImportError as exc:
        raise ComputeError(f"the {name} extension needs the duckdb-extension-{name} package: {exc}") from None
    package_dir = Path(next(iter(package.__path__)))
    found = sorted(package_dir.rglob(f"v{duckdb.__version__}/**/{name}.duckdb_extension"))
    if not found:
        raise ComputeError(f"duckdb-extension-{name} has no {name} extension for DuckDB {duckdb.__version__}")
    return found[0]


def connect(settings: Settings, memory_limit: str, extensions: Sequence[str] = ()) -> tuple[
        duckdb.DuckDBPyConnection, str | None]:
    """An in-memory DuckDB in UTC, with `extensions` installed offline into var/duckdb/extensions, and S3 set up
    for the lake when the lake is on S3. Returns (connection, why S3 cannot be read directly, or None)."""
    base = settings.var_dir / "duckdb"
    extensions_dir = base / "extensions"
    (base / "tmp").mkdir(parents=True, exist_ok=True)
    extensions_dir.mkdir(parents=True, exist_ok=True)
    try:
        conn = duckdb.connect(":memory:", config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "extension_directory": str(extensions_dir),
            "memory_limit": memory_limit,
            "temp_directory": str(base / "tmp"),
        })
        # A timestamp's date must be its UTC date whatever the machine's zone (ICU is built in).
        conn.execute("SET TimeZone = 'UTC'")
        for name in extensions:
            load_extension(conn, name)
    except duckdb.Error as exc:
        raise ComputeError(f"cannot start DuckDB: {_first_line(exc)}") from None
    problem = None
    if settings.objects_backend == "s3":
        try:
            _setup_s3(conn, settings)
        except (duckdb.Error, ComputeError) as exc:
            problem = f"DuckDB cannot read S3 directly ({_first_line(exc)}); staging files locally"
    return conn, problem


def load_extension(conn: duckdb.DuckDBPyConnection, name: str) -> None:
    conn.execute(f"INSTALL {quote_str(str(extension_file(name)))}")
    conn.execute(f"LOAD {name}")


def _setup_s3(conn: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    load_extension(conn, "httpfs")
    objects = settings.objects
    options = ["TYPE s3", f"REGION {quote_str(objects.region)}"]
    if objects.access_key:
        options += [f"KEY_ID {quote_str(objects.access_key)}",
                    f"SECRET {quote_str(objects.secret_key.get_secret_value())}"]
    else:  # the environment's credentials: an instance role on AWS
        options += ["PROVIDER credential_chain"]
    endpoint = settings.s3_endpoint
    if endpoint:
        url = urlsplit(endpoint)
        options += [f"ENDPOINT {quote_str(url.netloc)}", "URL_STYLE 'path'",
                    f"USE_SSL {'true' if url.scheme == 'https' else 'false'}"]
    conn.execute(f"CREATE OR REPLACE SECRET lakefront_lake ({', '.join(options)})")


class DuckDBCompute:
    name = "duckdb"

    def __init__(self, settings: Settings) -> None:
        self._conn, self.s3_problem = connect(settings, settings.process.duckdb_memory_limit)
        self.reads_s3 = settings.objects_backend == "s3" and self.s3_problem is None

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
            raise ComputeError(f"raw table {table}: {_first_line(exc)}") from None

    def run_model(self, name: str, sql: str) -> None:
        try:
            self._conn.execute(f"CREATE OR REPLACE TABLE {quote_ident(name)} AS {sql}")
        except duckdb.Error as exc:
            raise ComputeError(f"model {name}: {_first_line(exc)}") from None

    def to_arrow(self, name: str) -> pa.Table:
        try:
            return self._conn.table(quote_ident(name)).to_arrow_table()
        except duckdb.Error as exc:
            raise ComputeError(f"model {name}: {_first_line(exc)}") from None

    def close(self) -> None:
        self._conn.close()
