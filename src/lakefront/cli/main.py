"""Entry point of the `lakefront` command."""

from __future__ import annotations

import sys

import typer

from lakefront.cli import analytics, aws, backup, cache, db, deploy, diagram, load, run, seed, serve
from lakefront.cli.common import UserError
from lakefront.settings import SettingsError

app = typer.Typer(
    name="lakefront",
    help="The AWS three-tier web + analytics architecture, running on one machine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
run.register(app)
run.register_failover(app)
run.register_scale(app)
seed.register(app)
diagram.register(app)
db.register(app)
cache.register(app)
serve.register(app)
analytics.register(app)
aws.register(app)
deploy.register(app)
backup.register(app)
load.register(app)


def main() -> None:
    try:
        app()
    except (UserError, SettingsError) as exc:
        # A user's mistake: one line, non-zero exit, no traceback.
        typer.secho(f"lakefront: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(2)
