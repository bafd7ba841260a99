"""`lakefront deploy`: roll a new application version onto the running instances (the Elastic
Beanstalk role). The command makes the version, hands the request to `lakefront up` (which owns the
processes) and shows its progress; control/deploy.py does the rolling.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import typer

from lakefront.cli.common import UserError, settings_from_cli

_DONE = ("deployed", "rolled back", "failed")


def _list(store: Any, state: dict[str, Any] | None) -> None:
    data = store.read()
    running: dict[str, set[str]] = {}
    if state is not None:
        for inst in state.get("instances", []):
            if inst.get("state") != "draining":
                running.setdefault(str(inst.get("version", "installed")), set()).add(inst["tier"])
    else:
        for tier, version in data["running"].items():
            running.setdefault(version, set()).add(tier)
    typer.echo(f"{'version':10} {'status':12} {'runs on':10} {'created':26} source")
    rows = [{"id": "installed", "status": "", "created": "", "source": "the environment's own code", "reason": ""},
            *data["versions"]]
    for v in rows:
        tiers = ",".join(sorted(running.get(v["id"], set()))) or "-"
        reason = f"  ({v['reason']})" if v.get("reason") else ""
        typer.echo(f"{v['id']:10} {v['status']:12} {tiers:10} {v['created']:26} {v['source']}{reason}")


def register(app: typer.Typer) -> None:
    @app.command("deploy")
    def deploy_cmd(
        policy: str = typer.Option("rolling-with-additional-batch", "--policy",
                                   help="rolling | rolling-with-additional-batch | immutable."),
        batch: int = typer.Option(1, "--batch", help="Instances per batch (immutable: the whole group)."),
        tier: str = typer.Option("both", "--tier", help="app | web | both (app first)."),
        ref: str | None = typer.Option(None, "--ref", help="Deploy this git ref's src/lakefront (default HEAD)."),
        source: Path | None = typer.Option(None, "--source", help="Deploy DIR/lakefront (DIR contains the package)."),
        version: str | None = typer.Option(None, "--version", help="Deploy a recorded version again (or 'installed')."),
        health_timeout: float = typer.Option(30.0, "--health-timeout", help="Seconds to pass /healthz."),
        timeout: float = typer.Option(600.0, "--timeout", help="Seconds to wait for the deployment to finish."),
        list_versions: bool = typer.Option(False, "--list", help="List the versions and which group runs each."),
    ) -> None:
        """Roll an application version onto the running app and web instances, batch by batch, while they
        serve; a failed health check rolls back to the previous version (exit 1)."""
        from lakefront.control import requests
        from lakefront.control.deploy import POLICIES
        from lakefront.control.state import read_state, running_settings, running_state
        from lakefront.control.versions import INSTALLED, VersionError, VersionStore

        settings = running_settings(settings_from_cli())
        store = VersionStore(settings.var_dir / "versions")
        state = running_state(settings.state_file)
        if list_versions:
            _list(store, state)
            raise typer.Exit(0)
        if policy not in POLICIES:
            raise UserError(f"--policy {policy}: one of {', '.join(POLICIES)}")
        tiers = {"both": ["app", "web"], "app": ["app"], "web": ["web"]}.get(tier)
        if tiers is None:
            raise UserError(f"--tier {tier}: one of app, web, both")
        if sum(x is not None for x in (ref, source, version)) > 1:
            raise UserError("give one of --ref, --source and --version")
        if state is None:
            raise UserError("lakefront is not running; start it with `lakefront up`")
        try:
            if version is not None:
                if version != INSTALLED and store.get(version) is None:
                    raise UserError(f"no version {version!r}; `lakefront deploy --list` shows them")
                record = {"id": version, "source": "recorded"}
            elif source is not None:
                record = store.from_directory(source)
            else:
                record = store.from_git(ref or "HEAD", Path.cwd())
        except VersionError as exc:
            raise UserError(str(exc)) from None
        request_id = uuid.uuid4().hex[:12]
        request = {"id": request_id, "version": record["id"], "policy": policy, "batch": batch, "tiers": tiers,
                   "health_timeout_s": health_timeout}
        requests.submit(settings.run_dir, requests.DEPLOY, request)
        typer.echo(f"version {record['id']} ({record['source']}): {policy}, batch {batch}, {', '.join(tiers)} "
                   f"(request {request_id})")
        os.kill(int(state["pid"]), signal.SIGUSR2)
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            time.sleep(0.2)
            if running_state(settings.state_file) is None:
                raise UserError("lakefront stopped during the deployment; see the output of `lakefront up`")
            current = read_state(settings.state_file) or {}
            refused = current.get("deploy_refused") or {}
            if refused.get("id") == request_id:
                raise UserError(f"deploy refused: {refused['reason']}")
            deployment = current.get("deployment") or {}
            if deployment.get("id") != request_id:
                continue
            line = f"{deployment['message']}  [healthy: " + ", ".join(
                f"{t} {n}" for t, n in deployment["healthy"].items()) + "]"
            if deployment["message"] != last:
                typer.echo(line)
                last = deployment["message"]
            if deployment["status"] in _DONE:
                raise typer.Exit(0 if deployment["status"] == "deployed" else 1)
        raise UserError(f"the deployment did not finish within {timeout:.0f}s; `lakefront status` shows it")
