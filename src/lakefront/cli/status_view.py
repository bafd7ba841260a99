"""`lakefront status` as text that fits the terminal: one short aligned row per component and instance.

Driven by the report's data alone (`control/status.py` builds it; `--json` prints it as is), so a
component added to the topology gets its row here with no change. A row is `name  status`, and its
detail follows on the same line when it fits, otherwise on indented lines of its own, wrapped at
"; " and spaces; nothing is cut off but a name too long for its column (ellipsis).
"""

from __future__ import annotations

import textwrap
from typing import Any

from rich.text import Text

from lakefront.control.status import node_line

STYLE = {"ok": "green", "degraded": "yellow", "failing": "bold red", "absent": "dim", "planned": "dim", "info": ""}
MIN_WIDTH = 40
_GAP = 2


def _instance_rows(row: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = []
    for inst in row.get("instances", []):
        health = "ok" if inst["healthy"] and inst["registered"] else "failing"
        caddy = ("registered" if inst["registered"] else "not registered") + (
            f", {inst['fails']} fails" if inst["registered"] else "")
        state = inst.get("state", "in_service")
        if state in ("draining", "terminating", "backoff"):
            # Leaving on purpose (a scale-in, a deployment) is news, not a failure; a crash loop is.
            health = "failing" if state == "backoff" else "info"
            caddy = state + (f" after {inst.get('crashes', 0)} crashes in a row" if state == "backoff" else "")
        rows.append((f"  {inst['name']}", health,
                     f"pid {inst['pid']} port {inst['port']}, {inst.get('version', 'installed')}, "
                     f"restarts {inst['restarts']}, {caddy}"))
    for node in row.get("nodes", []):
        rows.append((f"  node {node['port']}", "failing" if node["role"] == "failed" else "ok", node_line(node)))
    return rows


def _fit(name: str, width: int) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def _wrap(text: str, width: int, indent: str) -> list[str]:
    # Break after "; " first (the details are lists of observations), then at spaces, then inside a word.
    lines: list[str] = []
    for part in text.split("; "):
        lines.extend(textwrap.wrap(part, width, initial_indent=indent, subsequent_indent=indent + "  ",
                                   break_on_hyphens=False) or [indent])
    return lines


def render(report: dict[str, Any], width: int) -> list[Text]:
    """The report as lines of at most `width` characters (at least MIN_WIDTH)."""
    width = max(width, MIN_WIDTH)
    entries: list[tuple[str, str, str]] = []
    for row in report["components"]:
        entries.append((row["name"], row["status"], row.get("detail", "")))
        entries.extend(_instance_rows(row))
    name_w = min(max((len(n) for n, _, _ in entries), default=0), width // 2)
    status_w = max((len(s) for _, s, _ in entries), default=0)
    detail_at = name_w + _GAP + status_w + _GAP
    title = f"lakefront {report['profile']} (pid {report['pid']}, since {report['started_at']})"
    lines = [Text(line, style="bold") for line in textwrap.wrap(title, width)]
    for name, status, detail in entries:
        head = Text(f"{_fit(name, name_w):<{name_w}}{' ' * _GAP}")
        head.append(status, style=STYLE.get(status, ""))
        if detail and detail_at + len(detail) <= width:
            head.append(" " * (status_w - len(status) + _GAP) + detail)
            lines.append(head)
            continue
        lines.append(head)
        if detail:
            indent = " " * (len(name) - len(name.lstrip()) + 4)
            lines.extend(Text(line) for line in _wrap(detail, width, indent))
    for name, url in report["urls"].items():
        lines.extend(Text(line) for line in textwrap.wrap(f"{name:9} {url}", width, subsequent_indent=" " * 10))
    return lines
