"""`lakefront cache ...`: the cache cluster (ElastiCache cluster mode), resharded live by the running `up`."""

from __future__ import annotations

import os
import signal
import time
import uuid
from typing import Any

import typer

from lakefront.cli.common import UserError, settings_from_cli


def _request(op: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Hand `op` to the running `up` (var/run/cache-request, then SIGUSR2) and wait for its result, showing
    progress; the nodes belong to `up`, which keeps them running after this command exits."""
    from lakefront.control import requests
    from lakefront.control.state import read_state, running_settings, running_state

    settings = running_settings(settings_from_cli())
    state = running_state(settings.state_file)
    if state is None:
        raise UserError("lakefront is not running; start it with `lakefront up --profile services`")
    if not state.get("cache_cluster"):
        raise UserError("the running system runs no cache cluster (it needs --profile services, cache.mode=cluster "
                        "and no cache.redis_url)")
    request_id = uuid.uuid4().hex[:12]
    requests.submit(settings.run_dir, requests.CACHE, op | {"id": request_id})
    os.kill(int(state["pid"]), signal.SIGUSR2)
    started = time.monotonic()
    last_print = 0.0
    while time.monotonic() - started < timeout:
        time.sleep(0.2)
        if running_state(settings.state_file) is None:
            raise UserError("lakefront stopped during the change; see the output of `lakefront up`")
        current = (read_state(settings.state_file) or {}).get("cache_cluster") or {}
        done: dict[str, Any] | None = next(
            (r for r in current.get("requests", []) if r.get("id") == request_id), None)
        if done is not None and done.get("finished"):
            if done.get("error"):
                raise UserError(f"cache {op['op']} failed: {done['error']}")
            return done
        if time.monotonic() - last_print >= 5:  # a reshard takes tens of seconds: say it is moving
            last_print = time.monotonic()
            typer.echo(f"  {op['op']}: {done.get('step', 'waiting') if done else 'requested'} "
                       f"({time.monotonic() - started:.0f}s)")
    raise UserError(f"cache {op['op']} did not finish within {timeout:.0f}s; see `lakefront status`")


def register(app: typer.Typer) -> None:
    cache_app = typer.Typer(help="The cache cluster (ElastiCache cluster mode): add or remove nodes while the "
                                 "store serves.", no_args_is_help=True)

    @cache_app.command("add-node")
    def add_node(replica: bool = typer.Option(True, "--replica/--no-replica", help="Give the new primary a replica."),
                 timeout: float = typer.Option(600.0, help="Seconds to wait for the slots to move.")) -> None:
        """Add a primary (and its replica) to the running cache cluster; slots move to it live."""
        done = _request({"op": "add-node", "replica": replica}, timeout)
        typer.echo(f"added node(s) {', '.join(map(str, done['ports']))} in {done['duration_s']:.1f}s; "
                   "see `lakefront status` for slots per node")

    @cache_app.command("remove-node")
    def remove_node(port: int | None = typer.Option(None, help="Primary to remove (default: the newest)."),
                    timeout: float = typer.Option(600.0, help="Seconds to wait for the slots to move.")) -> None:
        """Move every slot off a primary of the running cache cluster, then remove it and its replicas."""
        done = _request({"op": "remove-node", "port": port}, timeout)
        typer.echo(f"removed node(s) {', '.join(map(str, done['ports']))} in {done['duration_s']:.1f}s")

    app.add_typer(cache_app, name="cache")
