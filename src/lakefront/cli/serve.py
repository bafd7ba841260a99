"""`lakefront serve web|app`: run one instance of a tier (the control plane starts these)."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING, Any

import typer

from lakefront.cli.common import settings_from_cli

if TYPE_CHECKING:
    from starlette.applications import Starlette

GRACEFUL_STOP_S = 5


class _QuietEmbedded(logging.Filter):
    """Granian says its embedded server is experimental at every start: true, known, and not an event."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "experimental" not in record.getMessage()


def _serve(asgi: Any, host: str, port: int) -> None:
    """Serve `asgi` with Granian's embedded server: one process, in this asyncio loop.

    Granian parses HTTP in Rust: twice uvicorn's rate for a bare Starlette app here (SERVICES.md), no
    gain for our pages (bench/RESULTS.md), and it closes a kept-alive connection after a 413 sent
    before the body was read, so it is an option (web.server, app.server), not the default.
    Embedded, not its worker processes: the control plane supervises, kills and replaces the pid it
    started, and a worker left behind by a SIGKILLed parent would go on answering on the port.
    """
    from granian.constants import HTTPModes, Interfaces
    from granian.log import LogLevels
    from granian.server.embed import Server

    # Granian's own lines go through the process's one-line log handler, warnings and errors only.
    server = Server(asgi, address=host, port=port, interface=Interfaces.ASGI, http=HTTPModes.http1,
                    websockets=False, log_level=LogLevels.warning,
                    log_dictconfig={"loggers": {"_granian": {"propagate": True}}})
    server.workers_kill_timeout = GRACEFUL_STOP_S
    logging.getLogger("_granian").addFilter(_QuietEmbedded())

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, server.stop)
        await server.serve()

    asyncio.run(main())


def _run(tier: str, port: int, name: str, host: str) -> None:
    from lakefront import logs

    settings = settings_from_cli()
    logs.configure(name, settings.log_level)
    asgi: Starlette  # FastAPI (app tier) is a Starlette application too
    if tier == "app":
        from lakefront.analytics.dashboards import DashboardError, load_catalog
        from lakefront.api.app import create_app as create_api

        # The lifespan checks them too, but a failing lifespan logs a traceback: one line here instead.
        try:
            load_catalog()
        except DashboardError as exc:
            logging.getLogger("lakefront.api").error("start-up refused: %s", exc)
            raise typer.Exit(2) from None
        asgi = create_api(settings, instance=name)
    else:
        from lakefront.web.app import create_app as create_web

        asgi = create_web(settings, instance=name)
    # Neither tier has its peer address rewritten by the server: the web tier appends the peer it saw
    # to X-Forwarded-For, and the app tier reads the chain itself against lb.trusted_proxies
    # (api/deps.py client_address).
    server = settings.app.server if tier == "app" else settings.web.server
    if server == "granian":
        _serve(asgi, host, port)
        return
    import uvicorn

    uvicorn.run(asgi, host=host, port=port, log_config=None, access_log=False,
                timeout_graceful_shutdown=GRACEFUL_STOP_S, server_header=False, lifespan="on", proxy_headers=False)


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
