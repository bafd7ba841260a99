"""Spark, in the EMR role: the same models as DuckDB, translated to Spark SQL, on one SparkSession.

Sessions: run here, the engine starts a driver for ``settings.spark_master`` on loopback only, without the UI,
with few shuffle partitions (adaptive execution coalesces them): ``local[*]`` in this process's JVM, or a
standalone cluster's ``spark://127.0.0.1:<port>`` (servers/spark.py runs one: the EMR role's cluster, a master and
workers whose executors read the same local files). Under spark-submit (EMR) the JVM is already running with the
cluster's master and memory, and the engine sets neither. A session already
active in the process (a notebook's, a test module's) is borrowed and left running at close().
Every session runs in UTC.

Translation: the models are written once, in DuckDB SQL. sqlglot (read="duckdb", write="spark") turns them into
Spark SQL (window functions, CAST, DATE_TRUNC, EXTRACT, INTERVAL, COUNT(DISTINCT CASE ...) all come through as
they are), and ``translate`` then fixes what the two dialects mean differently although sqlglot writes the same
text for both:

- ``a / b`` is always floating-point division in DuckDB (DECIMAL / DECIMAL gives DOUBLE), but Spark divides
  decimals as decimals, rounded to 6 places: ``SUM(x) / 3.0`` would differ in the 7th digit. Both operands
  are cast to DOUBLE, which is what DuckDB does.
- DuckDB's HUGEINT becomes Spark's DECIMAL(38, 0): sqlglot writes INT128, which Spark does not know.

Not fixed: dividing by zero gives inf (or NULL) in DuckDB and an error in Spark (ANSI mode, Spark 4's default),
so models guard their denominators (``CASE WHEN n > 0 THEN ...``), as they do anyway for a meaningful rate.
Anything sqlglot cannot parse or Spark rejects raises ComputeError naming the model.

Raw tables: read with the schema the runner gives, not an inferred one, so Spark reads no footers up front and
a file written before a column was added reads that column as null (what mergeSchema would give, without the
job it costs per table). Materialization: each model is persisted and counted at
once (on local disk for a local master, memory and disk on a cluster), so it is computed once and its time is its
own; later models read the persisted blocks through a temp view.

Types: ``to_arrow`` gives the types DuckDB gives for the same SELECT (see base.py). Spark returns INT where DuckDB
returns BIGINT (ROW_NUMBER, EXTRACT), BIGINT where DuckDB returns HUGEINT (SUM) and non-nullable fields: integers
are widened to int64, scale-0 decimals become int64 and other decimals float64, and every field is nullable.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlglot
from sqlglot import exp

from lakefront.analytics.errors import ComputeError

if TYPE_CHECKING:
    from lakefront.settings import Settings

APP_NAME = "lakefront-process"
# Shuffle partitions for a local run, before adaptive execution coalesces them to about 64 MB each: a few
# megabytes end up in one partition, 20 million events in enough of them. A fixed 4 (tried first) made
# partitions of 5 million events at scale 10, and reading one cached partition back from disk needs a heap
# buffer of its whole size: the 1g driver ran out of heap in clean_events.
LOCAL_SHUFFLE_PARTITIONS = 32


def translate(sql: str) -> str:
    """One model's DuckDB SELECT as Spark SQL, with the dialects' differences in meaning fixed."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise ComputeError(f"cannot parse as DuckDB SQL: {str(exc).splitlines()[0]}") from None

    # In place rather than with transform(): transform does not descend into a node it replaced, so a
    # division inside another division's operand would keep Spark's meaning.
    for div in list(tree.find_all(exp.Div)):
        for side in ("this", "expression"):
            div.set(side, exp.cast(div.args[side], exp.DataType.build("double", dialect="spark")))
    for data_type in list(tree.find_all(exp.DataType)):
        if data_type.this == exp.DataType.Type.INT128:
            data_type.replace(exp.DataType.build("decimal(38, 0)", dialect="spark"))
    try:
        return tree.sql(dialect="spark", unsupported_level=sqlglot.ErrorLevel.RAISE, comments=False)
    except sqlglot.errors.UnsupportedError as exc:
        raise ComputeError(f"cannot translate to Spark SQL: {str(exc).splitlines()[0]}") from None


def _spark_type(arrow_type: pa.DataType) -> Any:
    """The Spark SQL type of a lake column (the extract's types, see analytics/formats.py)."""
    from pyspark.sql import types as st

    if pa.types.is_int64(arrow_type):
        return st.LongType()
    if pa.types.is_int32(arrow_type):
        return st.IntegerType()
    if pa.types.is_boolean(arrow_type):
        return st.BooleanType()
    if pa.types.is_floating(arrow_type):
        return st.DoubleType()
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return st.StringType()
    if pa.types.is_timestamp(arrow_type):
        return st.TimestampType() if arrow_type.tz else st.TimestampNTZType()
    if pa.types.is_date(arrow_type):
        return st.DateType()
    raise ComputeError(f"lake column type {arrow_type} has no Spark equivalent here")


def _duckdb_type(arrow_type: pa.DataType) -> pa.DataType:
    """The Arrow type DuckDB gives for the column Spark typed as `arrow_type` (see the module docstring)."""
    if pa.types.is_integer(arrow_type):
        return pa.int64()
    if pa.types.is_decimal(arrow_type):
        return pa.int64() if arrow_type.scale == 0 else pa.float64()
    if pa.types.is_floating(arrow_type):
        return pa.float64()
    if pa.types.is_timestamp(arrow_type):
        return pa.timestamp("us", tz=arrow_type.tz)
    if pa.types.is_large_string(arrow_type):
        return pa.string()
    return arrow_type


def _arrow_type(spark_type: Any) -> pa.DataType:
    """The Arrow type DuckDB gives for a column Spark types as `spark_type` (the pandas path's target)."""
    from pyspark.sql import types as st

    if isinstance(spark_type, st.DecimalType):
        return pa.int64() if spark_type.scale == 0 else pa.float64()
    if isinstance(spark_type, st.IntegralType):
        return pa.int64()
    if isinstance(spark_type, st.FractionalType):
        return pa.float64()
    if isinstance(spark_type, st.BooleanType):
        return pa.bool_()
    if isinstance(spark_type, st.StringType):
        return pa.string()
    if isinstance(spark_type, st.DateType):
        return pa.date32()
    if isinstance(spark_type, st.TimestampNTZType):
        return pa.timestamp("us")
    if isinstance(spark_type, st.TimestampType):
        return pa.timestamp("us", tz="UTC")
    raise ComputeError(f"spark type {spark_type.simpleString()} has no Arrow equivalent here")


def collect_arrow(frame: Any) -> pa.Table:
    """A DataFrame's rows as Arrow, with DuckDB's types."""
    if hasattr(frame, "toArrow"):
        return normalise(frame.toArrow())
    # Spark 3.5 (EMR 7.x) has no public DataFrame.toArrow. Through pandas, an integer column with nulls arrives
    # as float64 and a timestamp naive (in the session's zone, UTC): the Spark schema says what each one was.
    target = pa.schema([pa.field(f.name, _arrow_type(f.dataType), nullable=True) for f in frame.schema.fields])
    return pa.Table.from_pandas(frame.toPandas(), preserve_index=False).cast(target)


def normalise(table: pa.Table) -> pa.Table:
    """`table` with DuckDB's types and nullable fields."""
    schema = pa.schema([pa.field(f.name, _duckdb_type(f.type), nullable=True) for f in table.schema])
    return table.cast(schema)


class SparkCompute:
    """The models on one SparkSession; close() stops it."""

    name = "spark"

    def __init__(self, settings: Settings) -> None:
        self._cached: dict[str, Any] = {}
        self._views: set[str] = set()
        self._spark: Any = None
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        try:
            from pyspark.sql import SparkSession
        except ImportError as exc:  # pragma: no cover - pyspark is a dependency
            raise ComputeError(f"the spark engine needs pyspark: {exc}") from None
        # A session already running in this process (a notebook, EMR Studio, a test module's) is borrowed:
        # the engine uses it and leaves it running at close(). Starting a second one is not possible anyway.
        active = SparkSession.getActiveSession()
        self._owns_session = active is None
        if active is not None:
            self._spark = active
        else:
            self._spark = self._start(SparkSession, settings)
        # Also on a borrowed session: a timestamp's date must be its UTC date in every engine (see base.py).
        self._spark.conf.set("spark.sql.session.timeZone", "UTC")
        self.master: str = self._spark.sparkContext.master
        self.local = self.master.startswith("local")
        # EMR's cluster reads s3:// through EMRFS. Here (local or a standalone cluster on this machine) there are
        # no s3a jars: the runner stages files on local disk, which the standalone workers share.
        self.here = self.local or self.master.startswith("spark://")
        self.reads_s3 = not self.here

    def _start(self, session_class: Any, settings: Settings) -> Any:
        master, process = settings.spark_master, settings.process
        builder: Any = session_class.builder.appName(APP_NAME).config("spark.sql.session.timeZone", "UTC")
        # Under spark-submit (EMR) the JVM is already running with the cluster's master and memory, which the
        # settings must not override; pyspark tells its child process where that JVM is through this variable.
        if "PYSPARK_GATEWAY_PORT" not in os.environ:
            builder = builder.master(master).config("spark.driver.memory", process.spark_driver_memory)
            if master.startswith("spark://"):
                # One executor per worker, with what the worker offers (servers/spark.py starts them so).
                builder = (builder.config("spark.executor.memory", process.spark_worker_memory)
                           .config("spark.executor.cores", str(process.spark_worker_cores)))
            if master.startswith(("local", "spark://")):
                # Loopback only: the driver must not bind to, or advertise, the machine's public address; a
                # standalone cluster's executors connect back to it there.
                os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
                self._scratch = tempfile.TemporaryDirectory(prefix="lakefront-spark-")
                builder = (builder
                           .config("spark.driver.host", "127.0.0.1")
                           .config("spark.driver.bindAddress", "127.0.0.1")
                           .config("spark.ui.enabled", "false")
                           .config("spark.ui.showConsoleProgress", "false")
                           .config("spark.sql.shuffle.partitions", str(LOCAL_SHUFFLE_PARTITIONS))
                           .config("spark.sql.adaptive.coalescePartitions.enabled", "true")
                           # Were a table ever created, its directory would land in the cwd otherwise.
                           .config("spark.sql.warehouse.dir", str(Path(self._scratch.name) / "warehouse")))
        try:
            spark = builder.getOrCreate()
        except Exception as exc:
            self._cleanup_scratch()
            raise ComputeError(f"spark session did not start ({master}): {_first_line(exc)}") from None
        if spark.sparkContext.master.startswith("local"):
            # Spark's WARN lines (native hadoop, ...) are noise for a local run; errors still show.
            spark.sparkContext.setLogLevel("ERROR")
        return spark

    @property
    def spark(self) -> Any:
        """The SparkSession (pyspark.sql.SparkSession)."""
        if self._spark is None:
            raise ComputeError("the spark engine is closed")
        return self._spark

    def register_raw(self, table: str, sources: Sequence[str], schema: pa.Schema) -> None:
        from pyspark.sql import types as st

        wanted = st.StructType([st.StructField(f.name, _spark_type(f.type), True) for f in schema])
        view = f"raw_{table}"
        try:
            if not sources:
                frame = self.spark.createDataFrame([], wanted)
            else:
                # The schema is given, not inferred: Spark then reads no footers up front (mergeSchema would run a
                # job per table to merge them), and a file written before a column was added reads it as null.
                frame = self.spark.read.schema(wanted).parquet(*sources)
            frame.createOrReplaceTempView(view)
            self._views.add(view)
        except ComputeError:
            raise
        except Exception as exc:
            raise ComputeError(f"spark cannot read {view}: {_first_line(exc)}") from None

    def run_model(self, name: str, sql: str) -> None:
        from pyspark import StorageLevel

        try:
            spark_sql = translate(sql)
        except ComputeError as exc:
            raise ComputeError(f"model {name}: {exc}") from None
        try:
            # Locally, on disk only: with MEMORY_AND_DISK, Spark reads a partition that spilled back into a heap
            # buffer of its whole size, and a 1g driver ran out of heap in clean_events at scale 10 (20 million
            # events). A cluster's executors have the memory to keep models in it.
            level = StorageLevel.DISK_ONLY if self.here else StorageLevel.MEMORY_AND_DISK
            frame = self.spark.sql(spark_sql).persist(level)
            frame.count()  # persist is lazy: compute it now, once, so the model's time is its own
        except Exception as exc:
            raise ComputeError(f"model {name} failed on spark: {_first_line(exc)}") from None
        previous = self._cached.pop(name, None)
        frame.createOrReplaceTempView(name)
        self._views.add(name)
        self._cached[name] = frame
        if previous is not None:
            previous.unpersist()

    def to_arrow(self, name: str) -> pa.Table:
        try:
            return collect_arrow(self.spark.table(name))
        except ComputeError:
            raise
        except Exception as exc:
            raise ComputeError(f"spark cannot read model {name}: {_first_line(exc)}") from None

    def close(self) -> None:
        if self._spark is not None:
            spark, self._spark = self._spark, None
            try:
                if self._owns_session:
                    spark.stop()
                else:
                    # A borrowed session outlives the engine: leave it as it was found.
                    for frame in self._cached.values():
                        frame.unpersist()
                    for view in self._views:
                        spark.catalog.dropTempView(view)
            finally:
                self._cached.clear()
                self._views.clear()
        self._cleanup_scratch()

    def _cleanup_scratch(self) -> None:
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None


def _first_line(exc: BaseException) -> str:
    # Spark's errors carry the JVM stack trace; the first line names the problem.
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
