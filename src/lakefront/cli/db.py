"""`lakefront db ...`: database maintenance."""

from __future__ import annotations

import typer

from lakefront.cli.common import settings_from_cli
from lakefront.data.endpoints import writer_url


def register(app: typer.Typer) -> None:
    db_app = typer.Typer(help="Database maintenance: migrations.", no_args_is_help=True)

    @db_app.command("migrate")
    def migrate_cmd(
        revision: str = typer.Option("head", help="Target Alembic revision."),
    ) -> None:
        """Upgrade the database schema (Alembic) to the latest revision."""
        from lakefront.data.engines import make_engine
        from lakefront.data.migrations import current_revision, migrate

        settings = settings_from_cli()
        engine = make_engine(writer_url(settings), write=True, busy_timeout_ms=settings.db.busy_timeout_ms)
        before = current_revision(engine)
        migrate(engine, revision)
        after = current_revision(engine)
        engine.dispose()
        where = engine.url.render_as_string(hide_password=True)
        typer.echo(f"database {where}: {before or 'empty'} -> {after}")

    app.add_typer(db_app, name="db")
