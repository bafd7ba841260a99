"""The analytics commands: extract, process, pipeline (analytics/pipeline.py), sql, and `lake` (tables, maintain).

Commands parse, then delegate; every analytics error becomes one line and exit 2 here, in `_one_line`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from lakefront.cli.common import UserError, settings_from_cli
from lakefront.settings import Settings

ENGINE_HELP = "duckdb or spark. Default: settings process.engine (duckdb embedded, spark services)."
MASTER_HELP = ("Spark master for --engine spark: local[N] or spark://HOST:PORT (a standalone cluster). "
               "Default: settings process.spark_master.")


@contextmanager
def _one_line(doing: str) -> Iterator[None]:
    """The analytics side's errors, the database's and the object store's, as one line each."""
    from sqlalchemy.exc import OperationalError

    from lakefront.analytics.errors import AnalyticsError

    try:
        yield
    except AnalyticsError as exc:
        raise UserError(str(exc)) from None
    except OperationalError as exc:
        # The database is unreachable or refused us: say so in one line, as for a bad setting.
        raise UserError(f"cannot read the database: {str(exc.orig).splitlines()[0]}") from None
    except OSError as exc:  # the object store (S3 errors are OSErrors) or the local temp directory
        raise UserError(f"cannot {doing} the lake: {str(exc).splitlines()[0]}") from None


def _names(option: str, value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise UserError(f"{option} needs at least one name")
    return names


def _settings(engine: str | None, spark_master: str | None, job: str) -> Settings:
    from lakefront import logs
    from lakefront.analytics.compute import ENGINES

    if engine is not None and engine not in ENGINES:
        raise UserError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    settings = settings_from_cli()
    if spark_master is not None:
        settings.process.spark_master = spark_master
    logs.configure(job, settings.log_level)  # one line naming the source it reads, the cluster it uses
    return settings


def register(app: typer.Typer) -> None:
    @app.command("extract")
    def extract_cmd(
        tables: str | None = typer.Option(
            None, "--tables", metavar="A,B",
            help="Comma-separated tables to extract. Default: settings extract.tables (every extractable table)."),
        full: bool = typer.Option(
            False, "--full", help="Replace each table's rows with a full copy instead of adding what changed."),
    ) -> None:
        """Extract the database (its read endpoint) into the lake's raw_<table> Iceberg tables, one commit each.

        Incremental by default, from each table's (updated_at, id) watermark. Prints one line per table.
        """
        from lakefront.analytics import pipeline

        names = _names("--tables", tables)
        settings = _settings(None, None, "extract")
        with _one_line("write"):
            results = pipeline.extract(settings, tables=names, full=full, progress=True)
        for result in results:
            typer.echo(result.line())

    @app.command("process")
    def process_cmd(
        engine: str | None = typer.Option(None, "--engine", metavar="ENGINE", help=ENGINE_HELP),
        models: str | None = typer.Option(
            None, "--models", metavar="A,B",
            help="Comma-separated models to run, with what they read. Default: every model."),
        spark_master: str | None = typer.Option(None, "--spark-master", metavar="URL", help=MASTER_HELP),
    ) -> None:
        """Run the SQL models over the lake's raw tables and commit the marts (mart_<model> Iceberg tables).

        Prints one line per model: rows and seconds, and whether a mart's output was committed.
        """
        from lakefront.analytics import pipeline

        names = _names("--models", models)
        settings = _settings(engine, spark_master, "process")
        with _one_line("read or write"):
            results = pipeline.process(settings, engine=engine, models=names, progress=True)
        for result in results:
            typer.echo(result.line())

    @app.command("pipeline")
    def pipeline_cmd(
        engine: str | None = typer.Option(None, "--engine", metavar="ENGINE", help=ENGINE_HELP),
        spark_master: str | None = typer.Option(None, "--spark-master", metavar="URL", help=MASTER_HELP),
    ) -> None:
        """Extract the database into the lake, then process it: `lakefront extract` followed by `lakefront process`."""
        from lakefront.analytics import pipeline

        settings = _settings(engine, spark_master, "pipeline")
        with _one_line("read or write"):
            done = pipeline.run_pipeline(settings, engine=engine, progress=True)
        for line in done.lines():
            typer.echo(line)

    @app.command("sql")
    def sql_cmd(
        query: str | None = typer.Argument(None, help="SQL to run. Without it: an interactive shell."),
        output: Path | None = typer.Option(None, "--output", "-o", help="Write the rows to this file."),
        fmt: str = typer.Option("parquet", "--format", metavar="FORMAT",
                                help="Format of --output: parquet, csv, jsonl or avro."),
        max_rows: int = typer.Option(50, "--max-rows", min=1, help="Rows shown on the terminal."),
    ) -> None:
        """Read-only SQL over the lake's tables (DuckDB; the catalog's names: raw_orders, mart_daily_sales, ...)."""
        from lakefront.analytics.formats import check_format
        from lakefront.analytics.sql import LakeSQL
        from lakefront.cli.sql_shell import run_shell, show, write

        with _one_line("read"):
            if output is not None:
                check_format(fmt)
            with LakeSQL(settings_from_cli()) as session:
                if query is None:
                    run_shell(session, max_rows)
                    return
                result = session.query(query)
                if output is not None:
                    write(result.table, fmt, output)
                    typer.echo(f"{result.table.num_rows:,} rows written to {output} ({fmt})")
                else:
                    show(result, max_rows)

    lake_app = typer.Typer(help="The lake's Iceberg tables: what is committed, and their maintenance.",
                           no_args_is_help=True)

    @lake_app.command("tables")
    def tables_cmd() -> None:
        """Every table of the lake's catalog: rows, files, bytes, snapshot and when it was committed."""
        from lakefront.analytics.lake import Lake

        with _one_line("read"), Lake(settings_from_cli()) as lake:
            commits = list(lake.iter_commits())
            for commit in commits:
                typer.echo(f"{commit.table}: {commit.rows:,} rows, {commit.files} files, {commit.bytes:,} bytes, "
                           f"snapshot {commit.snapshot_id} (#{commit.sequence}) at {commit.committed_at}")
        if not commits:
            typer.echo("the lake has no committed table yet: run `lakefront pipeline`")

    @lake_app.command("maintain")
    def maintain_cmd(
        retention_s: float | None = typer.Option(
            None, "--retention-s", min=0, help="Override settings lake.retention_s for this run."),
    ) -> None:
        """Expire snapshots older than the retention and delete the files no live snapshot names."""
        from lakefront import logs
        from lakefront.analytics.lake import Lake
        from lakefront.analytics.lake.maintenance import maintain

        settings = settings_from_cli()
        logs.configure("maintain", settings.log_level)
        with _one_line("maintain"), Lake(settings) as lake:
            report = maintain(lake, retention_s)
        for line in report.lines():
            typer.echo(line)

    app.add_typer(lake_app, name="lake")
