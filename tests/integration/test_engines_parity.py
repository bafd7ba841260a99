"""DuckDB and Spark run the same model files over the same lake and must commit the same marts.

The module seeds demo data (scale 0.03, a fixed end date) into SQLite, extracts it twice into two lakes (two prefixes
of a directory store, two catalogs in one SQLite file; the database does not change in between, so both hold the
same rows), and runs every model once per engine, each into its own lake. Spark runs on the session's standalone
cluster (a master and two workers, the EMR role's cluster): one driver session serves the whole module, and the
runner's SparkCompute borrows it, as it would a notebook's.

Values are compared exactly, floats included: every DOUBLE in the marts is one division of two integers
(CAST(a AS DOUBLE) / CAST(b AS DOUBLE), e.g. retention, view_to_cart_rate), which IEEE 754 rounds correctly in both
engines, so any difference is a real one. A future mart that sums or averages doubles would need a tolerance
(summation order differs between engines); it would show up here first.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakefront.analytics.compute.spark import SparkCompute, collect_arrow
from lakefront.analytics.extract import EXTRACT_TABLES, run_extract
from lakefront.analytics.lake import Commit, Lake
from lakefront.analytics.models import load_models
from lakefront.analytics.process import ModelResult, run_process
from lakefront.demo import seed
from lakefront.servers.spark import SparkCluster
from lakefront.settings import LakeSettings, ProcessSettings, Settings

SCALE = 0.03
UNTIL = date(2026, 10, 31)
ENGINES = ("duckdb", "spark")


def settings_for(var_dir: Path, prefix: str, master: str) -> Settings:
    return Settings(var_dir=var_dir, lake=LakeSettings(prefix=prefix),
                    process=ProcessSettings(spark_master=master, spark_driver_memory="1g",
                                            spark_worker_memory="1g"))


@dataclass
class Runs:
    settings: dict[str, Settings]
    results: dict[str, list[ModelResult]]
    spark: SparkCompute
    cluster: SparkCluster

    def mart(self, engine: str, model: str) -> pa.Table:
        with Lake(self.settings[engine]) as lake:
            return lake.read(model)

    def mart_paths(self, engine: str, model: str) -> list[str]:
        with Lake(self.settings[engine]) as lake:
            found = lake.scan_keys(model)
            assert found is not None
            return [lake.local_path(key) or "" for key in found[0]]

    def commit(self, engine: str, model: str) -> Commit:
        with Lake(self.settings[engine]) as lake:
            found = lake.last_commit(model)
        assert found is not None, f"{engine} committed no {model}"
        return found


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, spark_cluster: SparkCluster) -> Iterator[Runs]:
    var_dir = tmp_path_factory.mktemp("parity")
    settings = {engine: settings_for(var_dir, f"lake-{engine}", spark_cluster.master_url) for engine in ENGINES}
    seed(settings["duckdb"], scale=SCALE, seed=7, until=UNTIL, progress=False)
    extracted = {engine: [(r.table, r.rows) for r in run_extract(settings[engine])] for engine in ENGINES}
    assert extracted["spark"] == extracted["duckdb"], "the two lakes must start from the same rows"
    spark = SparkCompute(settings["spark"])
    try:
        results = {engine: run_process(settings[engine], engine=engine) for engine in ENGINES}
        yield Runs(settings, results, spark, spark_cluster)
    finally:
        spark.close()


def canonical(table: pa.Table) -> pa.Table:
    return table.sort_by([(name, "ascending") for name in table.column_names]).combine_chunks()


def mart_names() -> list[str]:
    return sorted(name for name, model in load_models().items() if model.is_mart)


@pytest.mark.parametrize("mart", mart_names())
def test_spark_stores_the_same_rows_and_types_as_duckdb(runs: Runs, mart: str) -> None:
    duck, spark = canonical(runs.mart("duckdb", mart)), canonical(runs.mart("spark", mart))
    assert duck.num_rows > 0, f"{mart} is empty: the demo data no longer exercises it"
    assert spark.schema == duck.schema
    assert spark.num_rows == duck.num_rows
    for name in duck.column_names:
        assert spark[name].to_pylist() == duck[name].to_pylist(), f"{mart}.{name} differs"


def test_both_engines_run_every_model_and_commit_every_mart_with_the_same_digest(runs: Runs) -> None:
    for engine in ENGINES:
        assert [r.engine for r in runs.results[engine]] == [engine] * len(runs.results[engine])
        assert [r.name for r in runs.results[engine]] == [r.name for r in runs.results["duckdb"]]
    for mart in mart_names():
        duck, spark = runs.commit("duckdb", mart), runs.commit("spark", mart)
        assert (spark.properties["engine"], duck.properties["engine"]) == ("spark", "duckdb")
        assert spark.properties["content-sha256"] == duck.properties["content-sha256"], mart
        assert spark.schema == duck.schema, mart


def test_spark_ran_on_the_standalone_cluster_with_two_workers_and_no_default_port(runs: Runs) -> None:
    assert runs.spark.spark.sparkContext.master == runs.cluster.master_url
    assert runs.cluster.alive_workers() == 2
    executors = runs.spark.spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size()
    assert executors == 3  # the driver's block manager and one executor per worker
    assert not {8080, 8081, 7077} & set(runs.cluster.ports())


def test_a_second_spark_run_on_unchanged_data_commits_nothing(runs: Runs) -> None:
    again = run_process(runs.settings["spark"], engine="spark", models=["mart_daily_sales"])
    assert [(r.name, r.committed) for r in again if r.kind == "mart"] == [("mart_daily_sales", False)]


def test_spark_divides_decimals_and_truncates_timestamps_to_utc_dates_as_duckdb_does(runs: Runs) -> None:
    # Model SQL is DuckDB's: a decimal division is a DOUBLE division there, and Spark must not round it to 6 places.
    sql = ("SELECT SUM(x) / 3.0 AS third, 7 / 2 AS half, CAST(TIMESTAMPTZ '2026-03-01 23:30:00+00' AS DATE) AS day "
           "FROM (SELECT 1 AS x UNION ALL SELECT 1) AS t")
    runs.spark.run_model("parity_probe", sql)
    table = runs.spark.to_arrow("parity_probe")
    assert table.schema.types == [pa.float64(), pa.float64(), pa.date32()]
    assert table.to_pylist() == [{"third": 2 / 3, "half": 3.5, "day": date(2026, 3, 1)}]


# pandas 3 is installed here (the benches use it): PySpark warns that it does not fully support it yet, and its
# toPandas passes pandas a `copy` keyword that pandas 3 deprecates. The values are compared below, so these two
# warnings, and only in this test, are not errors (a Spark 3.5 venv should pin pandas < 3 anyway).
@pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")
@pytest.mark.filterwarnings("ignore:The copy keyword is deprecated:DeprecationWarning")
@pytest.mark.parametrize("mart", ["mart_inventory", "mart_funnel_daily"])
def test_the_pandas_path_for_spark_3_gives_what_to_arrow_gives(runs: Runs, mart: str) -> None:
    # EMR 7.x ships Spark 3.5, whose DataFrames have no toArrow(): collect_arrow then goes through pandas.
    # These marts have nullable integers, nullable doubles, dates, booleans and strings.
    frame = runs.spark.spark.read.parquet(*runs.mart_paths("spark", mart))

    class Spark35Frame:
        schema, toPandas = frame.schema, frame.toPandas

    assert collect_arrow(Spark35Frame()) == collect_arrow(frame)


def test_files_written_before_a_column_was_added_read_it_as_null(runs: Runs, tmp_path: Path) -> None:
    old, new = tmp_path / "old.parquet", tmp_path / "new.parquet"
    pq.write_table(pa.table({"id": pa.array([1], pa.int64())}), old)
    pq.write_table(pa.table({"id": pa.array([2], pa.int64()), "colour": ["red"]}), new)
    schema = pa.schema([("id", pa.int64()), ("colour", pa.string())])
    runs.spark.register_raw("paints", [str(old), str(new)], schema)
    runs.spark.register_raw("nothing_yet", [], schema)
    runs.spark.run_model("paints", "SELECT * FROM raw_paints UNION ALL SELECT * FROM raw_nothing_yet")
    assert sorted(runs.spark.to_arrow("paints").to_pylist(), key=lambda r: r["id"]) == [
        {"id": 1, "colour": None}, {"id": 2, "colour": "red"}]


def test_the_borrowed_session_outlives_the_runner_and_the_runner_leaves_no_views_behind(runs: Runs) -> None:
    views = {row.name for row in runs.spark.spark.catalog.listTables()}
    runner_views = set(load_models()) | {f"raw_{table}" for table in EXTRACT_TABLES}
    assert not views & runner_views
    assert runs.spark.spark.sql("SELECT 1 AS one").collect()[0].one == 1
