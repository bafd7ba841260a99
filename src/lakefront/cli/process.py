"""`lakefront process` and `lakefront pipeline`: run the SQL models over the lake (the EMR role)."""

from __future__ import annotations

import typer

from lakefront.cli.common import UserError, settings_from_cli


def _names(models: str | None) -> list[str] | None:
    if models is None:
        return None
    names = [name.strip() for name in models.split(",") if name.strip()]
    if not names:
        raise UserError("--models needs at least one model name")
    return names


def _check_engine(engine: str | None) -> str | None:
    from lakefront.analytics.engines import ENGINES

    if engine is not None and engine not in ENGINES:
        raise UserError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    return engine


def _process(engine: str | None, models: list[str] | None) -> None:
    from lakefront.analytics.process import ProcessError, run_process

    settings = settings_from_cli()
    try:
        results = run_process(settings, engine=engine, models=models, progress=True)
    except ProcessError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:  # the object store (S3 errors are OSErrors) or the local temp directory
        raise UserError(f"cannot read or write the lake: {str(exc).splitlines()[0]}") from None
    for result in results:
        typer.echo(result.line())


ENGINE_HELP = "duckdb or spark. Default: settings process.engine (duckdb embedded, spark services)."


def register(app: typer.Typer) -> None:
    @app.command("process")
    def process_cmd(
        engine: str | None = typer.Option(None, "--engine", metavar="ENGINE", help=ENGINE_HELP),
        models: str | None = typer.Option(
            None, "--models", metavar="A,B",
            help="Comma-separated models to run, with what they read. Default: every model."),
    ) -> None:
        """Run the SQL models over the lake's committed extracts and store the marts in the lake (lake/marts/).

        Prints one line per model: rows and seconds, and whether a mart's output was committed.
        """
        _process(_check_engine(engine), _names(models))

    @app.command("pipeline")
    def pipeline_cmd(
        engine: str | None = typer.Option(None, "--engine", metavar="ENGINE", help=ENGINE_HELP),
    ) -> None:
        """Extract the database into the lake, then process it: `lakefront extract` followed by `lakefront process`."""
        from sqlalchemy.exc import OperationalError

        from lakefront import logs
        from lakefront.analytics.extract import ExtractError, run_extract

        chosen = _check_engine(engine)
        settings = settings_from_cli()
        logs.configure("pipeline", settings.log_level)
        try:
            extracted = run_extract(settings, progress=True)
        except ExtractError as exc:
            raise UserError(str(exc)) from None
        except OperationalError as exc:
            raise UserError(f"cannot read the database: {str(exc.orig).splitlines()[0]}") from None
        except OSError as exc:
            raise UserError(f"cannot write the lake: {str(exc).splitlines()[0]}") from None
        for result in extracted:
            typer.echo(result.line())
        _process(chosen, None)
