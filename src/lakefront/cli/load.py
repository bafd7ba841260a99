"""`lakefront load`: simulated shoppers (TPC-W mixes) against the running system, optionally with faults."""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

import typer

from lakefront.cli.common import UserError, settings_from_cli


class MixName(StrEnum):
    browsing = "browsing"
    shopping = "shopping"
    ordering = "ordering"


def register(app: typer.Typer) -> None:
    @app.command("load")
    def load_cmd(
        mix: MixName = typer.Option(MixName.shopping, help="TPC-W mix: browse vs order interactions "
                                    "95/5 (browsing), 80/20 (shopping), 50/50 (ordering)."),
        users: int = typer.Option(10, min=1, max=2000, help="Closed loop: shoppers. Open loop: most in flight."),
        rate: float | None = typer.Option(None, min=0.1, help="Open loop: interactions started per second "
                                          "(Poisson arrivals), whatever the latency. Without it: closed loop."),
        duration: float = typer.Option(60.0, "--duration", min=1.0, help="Seconds of load."),
        think: float = typer.Option(1.0, min=0.0, help="Closed loop: mean think time in seconds (exponential, "
                                    "truncated at 10x)."),
        chaos: bool = typer.Option(False, "--chaos", help="SIGKILL parts of the system on a schedule."),
        targets: str = typer.Option("all", help="--chaos: targets in schedule order, from web, app, cache, "
                                    "database, balancer (all: each once)."),
        at: str = typer.Option("", help="--chaos: the seconds of each fault, comma-separated "
                               "(default: spread evenly over the run)."),
        seed: int = typer.Option(1, help="Seed of every random choice (mix, products, think times, arrivals)."),
        out: Path | None = typer.Option(None, "--out", help="Run directory (default var/load/<time>-<id>)."),
    ) -> None:
        """Drive the running system through its public listener like shoppers would; write a report."""
        from lakefront.load import faults
        from lakefront.load.run import LoadOptions, LoadRefused, run

        try:
            chosen = faults.parse_targets(targets, faults.targets()) if chaos else None
            times = [float(t) for t in at.split(",") if t.strip()]
        except ValueError as exc:
            raise UserError(str(exc).splitlines()[0]) from None
        options = LoadOptions(mix=mix.value, users=users, mode="open" if rate else "closed", rate=rate or 0.0,
                              duration_s=duration, think_s=think, seed=seed, out_dir=out, chaos=chosen,
                              fault_times=times)
        show = _progress()
        try:
            result = run(settings_from_cli(), options, progress=show)
        except LoadRefused as exc:
            raise UserError(str(exc)) from None
        show("")
        total, orders = result.summary, result.orders
        typer.echo(f"{total['requests']:,} requests, {total['rps']:.1f} req/s, {total['errors']:,} failed; "
                   f"p50 {total['p50']:.0f} ms, p99 {total['p99']:.0f} ms")
        problem = f"; {orders.database_error}" if orders.database_error else ""
        typer.echo(f"orders {orders.verdict}: {orders.acknowledged} acknowledged, {len(orders.lost)} lost, "
                   f"{len(orders.duplicates)} duplicates, {orders.unknown} unknown to the shopper "
                   f"({orders.unknown_placed} placed){problem}")
        for fault in result.faults:
            typer.echo(f"fault at {fault['at_s']:.1f} s {fault['target']}: {fault['detail']}")
        typer.echo(f"report {result.report}")
        raise typer.Exit(result.exit_code)


def _progress() -> Callable[[str], None]:
    """A live screen on a terminal; elsewhere (CI, a pipe) one line every 5 s."""
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.live import Live
        from rich.text import Text

        live = Live(Text(""), console=Console(), refresh_per_second=2, transient=True)
        live.start()

        def show(text: str) -> None:
            if text:
                live.update(Text(text))
            else:
                live.stop()

        return show
    last = [0.0]

    def plain(text: str) -> None:
        import time

        if text and time.monotonic() - last[0] >= 5:
            last[0] = time.monotonic()
            typer.echo(text.splitlines()[0] + " | " + text.splitlines()[2].strip())

    return plain
