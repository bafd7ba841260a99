"""`lakefront up | down | status`: run the whole system on this machine."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from lakefront.cli.common import UserError, settings_from_cli
from lakefront.settings import Profile


def _print_status(report: dict[str, Any]) -> None:
    from rich.console import Console

    from lakefront.cli.status_view import render

    console = Console(highlight=False)
    for line in render(report, console.width):
        console.print(line, no_wrap=True, overflow="ignore", crop=False)


def register(app: typer.Typer) -> None:
    @app.command("up")
    def up_cmd(
        profile: Profile | None = typer.Option(None, help="Which infrastructure plays the data roles."),
        web: int | None = typer.Option(None, "--web", help="Number of web instances."),
        app_n: int | None = typer.Option(None, "--app", help="Number of app instances."),
        port: int | None = typer.Option(None, "--port", help="Port of the public listener."),
        no_seed: bool = typer.Option(False, "--no-seed", help="Do not load demo data into an empty database."),
        scale: float | None = typer.Option(None, "--scale", help="Scale of the demo data (1 = 1,000 products)."),
    ) -> None:
        """Start the whole system (load balancer, web and app tiers, data) and supervise it until Ctrl-C."""
        from lakefront import logs
        from lakefront.control.up import Refused, up

        overrides: dict[str, Any] = {}
        if web is not None:
            overrides["web"] = {"instances": web}
        if app_n is not None:
            overrides["app"] = {"instances": app_n}
        if port is not None:
            overrides["lb"] = {"public_port": port}
        if scale is not None:
            overrides["demo"] = {"scale": scale}
        settings = _merged(profile, overrides)
        if settings.profile is Profile.aws:
            raise UserError("the aws profile runs on AWS, not on this machine: `lakefront aws deploy` deploys it")
        logs.configure("control", settings.log_level)
        try:
            status = up(settings, seed=not no_seed, echo=typer.echo)
        except Refused as exc:
            raise UserError(str(exc)) from None
        raise typer.Exit(status)

    @app.command("down")
    def down_cmd(
        purge: bool = typer.Option(False, "--purge", help="Also delete var/: databases, cache, objects, logs."),
    ) -> None:
        """Stop the system started by `lakefront up`."""
        from lakefront.control.state import running_settings
        from lakefront.control.up import Refused, down, purge_var

        settings = running_settings(settings_from_cli())
        status = down(settings, echo=typer.echo)
        if purge:
            try:
                purge_var(settings, echo=typer.echo)
            except Refused as exc:
                raise UserError(str(exc)) from None
        raise typer.Exit(status)

    @app.command("status")
    def status_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
        """Observe the running system: each balancer node, the DNS server, the database writer endpoint (NLB),
        instances, database, cache, object store."""
        from lakefront.control.state import running_settings
        from lakefront.control.status import observe

        report = observe(running_settings(settings_from_cli()))
        if report is None:
            if as_json:
                typer.echo(json.dumps({"running": False, "healthy": False}))
            else:
                typer.echo("lakefront is not running", err=True)
            raise typer.Exit(1)
        if as_json:
            json.dump(report, sys.stdout, indent=2)
            typer.echo()
        else:
            _print_status(report)
        raise typer.Exit(0 if report["healthy"] else 1)


def register_failover(app: typer.Typer) -> None:
    @app.command("failover")
    def failover_cmd(timeout: float = typer.Option(60.0, help="Seconds to wait for the switchover to finish.")) -> None:
        """Planned switchover: the standby becomes the primary, the primary the standby (like RDS "reboot
        with failover"). Writes arriving meanwhile wait for the new primary instead of failing."""
        import os
        import signal
        import time
        import uuid

        from lakefront.control.state import read_state, running_settings, running_state

        settings = running_settings(settings_from_cli())
        state = running_state(settings.state_file)
        if state is None:
            raise UserError("lakefront is not running; start it with `lakefront up --profile services`")
        database = state.get("database")
        if not database:
            raise UserError("the running system has no standby (it needs --profile services with db.standby on)")
        request_id = uuid.uuid4().hex[:12]
        request_file = settings.run_dir / "failover-request"
        request_file.write_text(request_id)
        typer.echo(f"switching over: {database['primary']} -> {database['standby']} (request {request_id})")
        os.kill(int(state["pid"]), signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.2)
            if running_state(settings.state_file) is None:
                raise UserError("lakefront stopped during the switchover; see the output of `lakefront up`")
            current = (read_state(settings.state_file) or {}).get("database") or {}
            done = next((e for e in current.get("failovers", []) if e.get("id") == request_id), None)
            if done is not None and done.get("old_primary_rejoined"):
                typer.echo(f"done: {done['new_primary']} is the primary, {done['old_primary']} the standby "
                           f"({done['old_primary_rejoined'] or 'rejoining'}); writes paused {done['duration_s']:.2f}s")
                raise typer.Exit(0)
        raise UserError(f"the switchover did not finish within {timeout:.0f}s; see the output of `lakefront up` "
                        "and `lakefront status`")


def register_scale(app: typer.Typer) -> None:
    @app.command("scale")
    def scale_cmd(
        tier: str = typer.Argument(..., help="The instance group: web or app."),
        desired: int = typer.Argument(..., help="Desired number of instances (within the group's min and max)."),
        timeout: float = typer.Option(60.0, help="Seconds to wait for the group to reach the new size."),
    ) -> None:
        """Set a group's desired capacity on the running system (like `aws autoscaling set-desired-capacity`);
        waits until that many instances are in service. Target tracking may change it again later."""
        import os
        import signal
        import time
        import uuid

        from lakefront.control import requests
        from lakefront.control.state import read_state, running_settings, running_state

        settings = running_settings(settings_from_cli())
        state = running_state(settings.state_file)
        if state is None:
            raise UserError("lakefront is not running; start it with `lakefront up`")
        group = (state.get("groups") or {}).get(tier)
        if group is None:
            raise UserError(f"no group {tier!r}: the groups are {', '.join(state.get('groups') or {}) or 'none'}")
        if not group["min"] <= desired <= group["max"]:
            raise UserError(f"{tier}: desired {desired} is outside the group's min {group['min']} .. max {group['max']}"
                            f" (LAKEFRONT_{tier.upper()}__SCALING__MIN_INSTANCES / __MAX_INSTANCES)")
        request_id = uuid.uuid4().hex[:12]
        requests.submit(settings.run_dir, requests.SCALE, {"id": request_id, "tier": tier, "desired": desired})
        typer.echo(f"{tier}: desired {group['desired']} -> {desired} (request {request_id})")
        os.kill(int(state["pid"]), signal.SIGUSR2)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.2)
            if running_state(settings.state_file) is None:
                raise UserError("lakefront stopped; see the output of `lakefront up`")
            current = read_state(settings.state_file) or {}
            now = (current.get("groups") or {}).get(tier) or {}
            if now.get("last_request") != request_id:
                continue
            members = [i for i in current.get("instances", []) if i["tier"] == tier]
            if now.get("size") == now.get("desired") == len(members):
                typer.echo(f"done: {tier} has {now['size']} instance(s) in service")
                raise typer.Exit(0)
        raise UserError(f"{tier} did not reach {desired} instance(s) within {timeout:.0f}s; see `lakefront status`")


def _merged(profile: Profile | None, overrides: dict[str, Any]) -> Any:
    """Settings with nested CLI overrides merged into what the environment and files say."""
    base = settings_from_cli(profile)
    if not overrides:
        return base
    data = base.model_dump()
    for key, value in overrides.items():
        data[key] = data[key] | value
    data.pop("profile", None)
    return settings_from_cli(profile or base.profile, **data)
