"""`lakefront seed`: load deterministic demo data into an empty database."""

from __future__ import annotations

from datetime import UTC, date, datetime

import typer

from lakefront.cli.common import UserError, settings_from_cli
from lakefront.data.endpoints import writer_url


def parse_until(value: str | None) -> date | None:
    """The --until date, or a UserError naming the flag; a future date would make rows in the future."""
    if value is None:
        return None
    try:
        until = date.fromisoformat(value)
    except ValueError:
        raise UserError(f"--until must be a date as YYYY-MM-DD, got {value!r}") from None
    today = datetime.now(UTC).date()
    if until > today:
        raise UserError(f"--until {value} is in the future; the latest is today ({today.isoformat()})")
    return until


def register(app: typer.Typer) -> None:
    @app.command("seed")
    def seed_cmd(
        scale: float | None = typer.Option(
            None, "--scale", metavar="S",
            help="Size of the data: 1 = ~1,000 products, 10,000 customers, 100,000 orders and ~1.8 million "
                 "clickstream events; 0.01 is a tiny store. Default: settings demo.scale."),
        seed: int | None = typer.Option(
            None, "--seed", metavar="N",
            help="Random seed: the same seed, scale and --until give identical rows and images. "
                 "Default: settings demo.seed."),
        until: str | None = typer.Option(
            None, "--until", metavar="YYYY-MM-DD",
            help="The history covers the 365 days before this date. Default: today (UTC)."),
    ) -> None:
        """Load demo data (catalog, images, customers, a year of orders and clickstream) into an empty database.

        Migrates the schema first. Refuses a database that already has products.
        """
        from sqlalchemy.engine import make_url

        from lakefront.demo import DemoDataExists
        from lakefront.demo import seed as seed_demo

        until_date = parse_until(until)
        settings = settings_from_cli()
        chosen_scale = settings.demo.scale if scale is None else scale
        if not 0 < chosen_scale <= 100:
            raise UserError(f"--scale must be greater than 0 and at most 100, got {chosen_scale:g}")
        chosen_seed = settings.demo.seed if seed is None else seed
        try:
            seed_demo(settings, scale=chosen_scale, seed=chosen_seed, until=until_date, progress=True)
        except DemoDataExists as exc:
            where = make_url(writer_url(settings)).render_as_string(hide_password=True)
            raise UserError(f"{exc} ({where})") from None
