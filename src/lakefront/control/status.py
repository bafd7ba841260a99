"""`lakefront status`: read the run state, then observe the running system itself.

Every row is an observation (a request through the balancer, a query to the database), not a
repetition of what the state file claims.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from lakefront import topology
from lakefront.control.state import running_state
from lakefront.control.supervisor import healthz
from lakefront.settings import Settings


@dataclass
class Row:
    id: str
    name: str
    status: str
    """ok, failing, planned or info (nothing to check)."""
    detail: str = ""
    instances: list[dict[str, Any]] = field(default_factory=list)


def _get_ok(url: str) -> tuple[bool, str]:
    try:
        response = httpx.get(url, timeout=2.0)
    except httpx.HTTPError as exc:
        return False, f"{url}: {type(exc).__name__}"
    return response.status_code == 200, f"GET {url} -> {response.status_code}"


def _dir_size(path: Path) -> tuple[int, int]:
    if not path.exists():
        return 0, 0
    files = [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def _human(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return str(size)


def _upstreams(admin_url: str) -> tuple[dict[str, dict[str, Any]], str | None]:
    try:
        response = httpx.get(f"{admin_url}/reverse_proxy/upstreams", timeout=2.0)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        return {}, f"admin API: {type(exc).__name__}"
    return {u["address"]: u for u in response.json()}, None


def _tier_row(comp: topology.Component, state: dict[str, Any], host: str, ups: dict[str, Any]) -> Row:
    rows = []
    for inst in state.get("instances", []):
        if inst["tier"] != comp.id:
            continue
        address = f"{host}:{inst['port']}"
        up = ups.get(address)
        rows.append(inst | {
            "healthy": healthz(host, inst["port"]),
            "registered": up is not None,
            "num_requests": up["num_requests"] if up else None,
            "fails": up["fails"] if up else None,
        })
    healthy = bool(rows) and all(r["healthy"] and r["registered"] for r in rows)
    detail = f"{sum(r['healthy'] for r in rows)}/{len(rows)} healthy"
    return Row(comp.id, comp.name, "ok" if healthy else "failing", detail, rows)


def _database_row(comp: topology.Component, settings: Settings) -> Row:
    from lakefront.control.up import product_count

    try:
        count = product_count(settings.reader_url, settings.db.busy_timeout_ms)
    except Exception as exc:  # any failure to query is what status must report
        return Row(comp.id, comp.name, "failing", f"query failed: {str(exc).splitlines()[0][:120]}")
    return Row(comp.id, comp.name, "ok", f"{count} products")


def observe(settings: Settings) -> dict[str, Any] | None:
    """The observed status, or None when nothing runs."""
    state = running_state(settings.state_file)
    if state is None:
        return None
    caddy = state.get("caddy") or {}
    host = caddy.get("host", settings.lb.host)
    admin_url = f"http://{host}:{caddy.get('admin_port', settings.lb.admin_port)}"
    public_url = f"http://{host}:{caddy.get('public_port', settings.lb.public_port)}"
    internal_url = f"http://{host}:{caddy.get('internal_port', settings.lb.internal_port)}"
    ups, ups_error = _upstreams(admin_url)
    profile = settings.profile.__class__(state.get("profile", settings.profile.value))

    rows: list[Row] = []
    for comp in topology.COMPONENTS:
        impl = comp.impl(profile)
        if impl.status == "planned":
            rows.append(Row(comp.id, comp.name, "planned", f"{impl.name} (issue #{impl.issue})"))
        elif comp.id in ("web", "app"):
            rows.append(_tier_row(comp, state, host, ups))
        elif comp.id in ("alb", "internal_alb"):
            ok, detail = _get_ok(f"{public_url if comp.id == 'alb' else internal_url}/healthz")
            if ups_error:
                ok, detail = False, f"{detail}; {ups_error}"
            rows.append(Row(comp.id, comp.name, "ok" if ok else "failing", f"caddy pid {caddy.get('pid')}; {detail}"))
        elif comp.id == "database":
            rows.append(_database_row(comp, settings))
        elif comp.id == "cache":
            path = settings.cache_path
            size = f"{_human(path.stat().st_size)} at {path}" if path.exists() else f"no file yet ({path})"
            rows.append(Row(comp.id, comp.name, "ok", f"{settings.cache.backend}: {size}"))
        elif comp.id == "object_store":
            count, size = _dir_size(settings.objects_root)
            rows.append(Row(comp.id, comp.name, "ok", f"{count} objects, {_human(size)} at {settings.objects_root}"))
        else:
            rows.append(Row(comp.id, comp.name, "info", impl.name))
    healthy = all(r.status != "failing" for r in rows)
    return {
        "running": True,
        "healthy": healthy,
        "pid": state.get("pid"),
        "profile": profile.value,
        "started_at": state.get("started_at"),
        "urls": {"public": public_url, "internal": internal_url, "admin": admin_url},
        "components": [asdict(r) for r in rows],
        "upstreams": list(ups.values()),
    }
