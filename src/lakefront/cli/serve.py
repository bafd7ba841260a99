"""`lakefront serve web|app`: run one instance of a tier (the control plane starts these)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from lakefront.cli.common import settings_from_cli

if TYPE_CHECKING:
    from starlette.applications import Starlette


def _run(tier: str, port: int, name: str, host: str) -> None:
    import uvicorn

    from lakefront import logs

    settings = settings_from_cli()
    logs.configure(name, settings.log_level)
    asgi: Starlette  # FastAPI (app tier) is a Starlette application too
    if tier == "app":
        from lakefront.api.app import create_app as create_api

        asgi = create_api(settings, instance=name)
    else:
        from lakefront.web.app import create_app as create_web

        asgi = create_web(settings, instance=name)
    # The app tier reads X-Forwarded-For itself, against lb.trusted_proxies (api/deps.py client_address);
    # uvicorn's own rewriting of the peer address, trusting 127.0.0.1 whatever the settings, would preempt it.
    uvicorn.run(asgi, host=host, port=port, log_config=None, access_log=False,
                timeout_graceful_shutdown=5, server_header=False, lifespan="on", proxy_headers=tier != "app")


def register(app: typer.Typer) -> None:
    serve_app = typer.Typer(help="Run one instance of a tier (normally started by `lakefront up`).",
                            no_args_is_help=True)

    @serve_app.command("app")
    def serve_app_cmd(
        port: int = typer.Option(..., help="Port to listen on."),
        name: str = typer.Option("app-1", help="Instance name, shown in logs and /healthz."),
        host: str = typer.Option("127.0.0.1", help="Address to bind."),
    ) -> None:
        """Run one app-tier instance (FastAPI JSON API, the Elastic Beanstalk role)."""
        _run("app", port, name, host)

    @serve_app.command("web")
    def serve_web_cmd(
        port: int = typer.Option(..., help="Port to listen on."),
        name: str = typer.Option("web-1", help="Instance name, shown in logs and /healthz."),
        host: str = typer.Option("127.0.0.1", help="Address to bind."),
    ) -> None:
        """Run one web-tier instance (Starlette pages, the EC2 Auto Scaling group role)."""
        _run("web", port, name, host)

    app.add_typer(serve_app, name="serve", hidden=True)
