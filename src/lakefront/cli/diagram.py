"""`lakefront diagram`: draw the architecture from topology data."""

from __future__ import annotations

from pathlib import Path

import typer

from lakefront.cli.common import UserError, settings_from_cli
from lakefront.settings import Profile

_BY_SUFFIX = {".svg": "svg", ".mmd": "mermaid", ".mermaid": "mermaid"}


def register(app: typer.Typer) -> None:
    @app.command("diagram")
    def diagram_cmd(
        profile: Profile | None = typer.Option(None, help="Profile to draw. Default: the configured one."),
        fmt: str | None = typer.Option(
            None, "--format", "-f",
            help="text, mermaid or svg. Default: from the --output suffix (.svg, .mmd), else text.",
        ),
        output: Path | None = typer.Option(None, "--output", "-o", help="Write here instead of stdout."),
    ) -> None:
        """Draw the integrated architecture, marking what the profile does not run."""
        from lakefront.diagram import FORMATS, instance_counts, render, scaling_bounds

        chosen = fmt or (_BY_SUFFIX.get(output.suffix.lower(), "text") if output else "text")
        if chosen not in FORMATS:
            raise UserError(f"unknown diagram format {chosen!r}: choose one of {', '.join(FORMATS)}")
        settings = settings_from_cli(profile)
        drawing = render(chosen, settings.profile, instance_counts(settings), scaling_bounds(settings))
        if output is None:
            typer.echo(drawing, nl=False)
            return
        if not output.parent.is_dir():
            raise UserError(f"cannot write {output}: directory {output.parent} does not exist")
        try:
            output.write_text(drawing, encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot write {output}: {exc.strerror}") from None
        typer.echo(f"wrote {chosen} diagram of profile {settings.profile} to {output}", err=True)
