"""var/run/state.json: what `up` started, for `status` and `down` to find.

Written atomically (temporary file, then rename) so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lakefront.servers.procs import pid_alive
from lakefront.settings import Settings


def write_state(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # It carries the resolved settings, secrets included: readable by the owner only.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(state, indent=2, sort_keys=True))
    tmp.replace(path)


def read_state(path: Path) -> dict[str, Any] | None:
    """The run state, or None when there is none or it is unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def running_state(path: Path) -> dict[str, Any] | None:
    """The run state when its `up` process is alive; None when nothing runs (a stale file is ignored)."""
    state = read_state(path)
    if state is None:
        return None
    pid = state.get("pid")
    if not isinstance(pid, int) or pid == os.getpid() or not pid_alive(pid):
        return None
    return state


def running_settings(settings: Settings) -> Settings:
    """The settings the running system was started with (profile, ports, endpoints), else `settings`."""
    state = running_state(settings.state_file)
    if state is None or not isinstance(state.get("settings"), dict):
        return settings
    return Settings.model_validate(state["settings"])


def remove_state(path: Path) -> None:
    path.unlink(missing_ok=True)
