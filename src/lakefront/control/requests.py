"""Control requests: how a command (`lakefront scale`, `deploy`, `cache add-node/remove-node`) hands work to
the running `lakefront up`. The command writes a request file in var/run atomically, then sends SIGUSR2;
`up` claims each file by renaming it before reading, so a second request written meanwhile is a new file
and is taken on the next signal, never lost."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

SCALE = "scale-request"
DEPLOY = "deploy-request.json"
CACHE = "cache-request"
KINDS = (SCALE, DEPLOY, CACHE)


class UnreadableRequest(ValueError):
    """A request file that is not a JSON object."""


def submit(run_dir: Path, kind: str, request: dict[str, Any]) -> Path:
    """Write `request` as `kind` in `run_dir`, whole or not at all (a temporary file renamed into place)."""
    target = run_dir / kind
    tmp = run_dir / f".{kind}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(request))
    tmp.replace(target)
    return target


def claim(run_dir: Path, kind: str) -> dict[str, Any] | None:
    """The pending request of `kind`, taken once (None when there is none). Raises UnreadableRequest."""
    claimed = run_dir / f".{kind}.{os.getpid()}.claimed"
    try:
        (run_dir / kind).rename(claimed)
    except FileNotFoundError:
        return None
    try:
        request = json.loads(claimed.read_text())
    except (OSError, ValueError) as exc:
        raise UnreadableRequest(f"{kind}: {exc}") from None
    finally:
        claimed.unlink(missing_ok=True)
    if not isinstance(request, dict):
        raise UnreadableRequest(f"{kind}: not a JSON object")
    return request
