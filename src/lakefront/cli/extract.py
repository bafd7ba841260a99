"""`lakefront extract`: copy the shop's tables from the read endpoint into the lake."""

from __future__ import annotations

import typer

from lakefront.cli.common import UserError, settings_from_cli


def register(app: typer.Typer) -> None:
    @app.command("extract")
    def extract_cmd(
        tables: str | None = typer.Option(
            None, "--tables", metavar="A,B",
            help="Comma-separated tables to extract. Default: settings extract.tables (every extractable table)."),
        fmt: str | None = typer.Option(
            None, "--format", metavar="FORMAT",
            help="parquet, csv, jsonl or avro. Default: settings extract.format (parquet)."),
        full: bool = typer.Option(
            False, "--full",
            help="Take a full snapshot (a new generation) instead of the rows changed since the last run."),
    ) -> None:
        """Extract the database (its read endpoint) into the lake: raw/<table>/dt=YYYY-MM-DD/, one manifest per table.

        Incremental by default, from each table's (updated_at, id) watermark. Prints one line per table.
        """
        from sqlalchemy.exc import OperationalError

        from lakefront.analytics.extract import ExtractError, run_extract

        names = None
        if tables is not None:
            names = [name.strip() for name in tables.split(",") if name.strip()]
            if not names:
                raise UserError("--tables needs at least one table name")
        settings = settings_from_cli()
        from lakefront import logs

        logs.configure("extract", settings.log_level)  # one line naming the source it reads
        try:
            results = run_extract(settings, tables=names, fmt=fmt, full=full, progress=True)
        except ExtractError as exc:
            raise UserError(str(exc)) from None
        except OperationalError as exc:
            # The database is unreachable or refused us: say so in one line, as for a bad setting.
            raise UserError(f"cannot read the database: {str(exc.orig).splitlines()[0]}") from None
        except OSError as exc:  # the object store (S3 errors are OSErrors) or the local temp directory
            raise UserError(f"cannot write the lake: {str(exc).splitlines()[0]}") from None
        for result in results:
            typer.echo(result.line())
