"""`lakefront status` as text: readable at 80 columns, nothing lost, and rows added by new parts fit too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from lakefront.cli.status_view import render


def _instance(name: str, port: int) -> dict[str, Any]:
    return {"name": name, "pid": 41234, "port": port, "restarts": 0, "healthy": True, "registered": True, "fails": 0}


def _report() -> dict[str, Any]:
    """A report shaped like `observe`'s, with details as long as the services profile's."""
    components = [
        {"id": "alb", "name": "Application Load Balancer", "status": "ok", "instances": [],
         "detail": "caddy pid 40001; GET http://127.0.0.1:8080/healthz -> 200"},
        {"id": "web", "name": "EC2 Auto Scaling group (frontend instances)", "status": "ok",
         "detail": "2 of 2 healthy and registered", "instances": [_instance("web-1", 9101), _instance("web-2", 9102)]},
        {"id": "database", "name": "Amazon RDS (MySQL) primary", "status": "ok", "instances": [],
         "detail": "1000 products; mysql+pymysql://app@127.0.0.1:3307/lakefront; primary db-1 (port 3307), "
                   "semi-sync on (AFTER_SYNC, 1000 ms), last failover 2026-12-02T17:01:02Z took 0.61 s"},
        {"id": "standby", "name": "RDS standby / read replica", "status": "ok", "instances": [],
         "detail": "db-2 (port 3308) replicating from db-1: IO Yes, SQL Yes, lag 0.2 s; readers: db-2"},
        {"id": "object_store", "name": "Amazon S3 (storage)", "status": "failing", "instances": [],
         "detail": "images 1040 objects, 31.2 MB; lake 402 objects, 12.9 MB; backups 0 objects, 0 B; "
                   "http://127.0.0.1:8333/lakefront-images-with-a-very-long-bucket-name-nobody-would-wrap"},
        # A row another part adds later: a name longer than half the screen, a detail with no spaces at all.
        {"id": "future", "name": "A component some later issue adds, with a name far too long for its column",
         "status": "planned", "instances": [], "detail": "x" * 150},
        {"id": "quicksight", "name": "Amazon QuickSight (dashboards)", "status": "info", "instances": [],
         "detail": ""},
    ]
    return {"running": True, "healthy": False, "pid": 40000, "profile": "services",
            "started_at": "2026-12-02T17:00:00Z", "components": components,
            "urls": {"public": "http://127.0.0.1:8080", "internal": "http://127.0.0.1:8081",
                     "admin": "http://127.0.0.1:2019"}}


@pytest.mark.parametrize("width", [80, 60, 120])
def test_no_status_line_is_wider_than_the_terminal(width: int) -> None:
    lines = [line.plain for line in render(_report(), width)]
    too_wide = [line for line in lines if len(line) > width]
    assert not too_wide, too_wide


def test_status_at_80_columns_keeps_every_component_status_and_detail_word() -> None:
    report = _report()
    lines = [line.plain for line in render(report, 80)]
    text = "\n".join(lines)
    flat = "".join(text.split())
    for row in report["components"]:
        assert "".join(row["detail"].split()).replace(";", "") in flat.replace(";", ""), row["id"]
        for inst in row["instances"]:
            assert any(line.startswith(f"  {inst['name']} ") for line in lines), inst["name"]
    # Each row starts at the left margin with its name, its status in one aligned column.
    heads = [line for line in lines if line.startswith("Application") or line.startswith("Amazon")]
    columns = {line.index(word) for line in heads for word in ("ok", "failing", "info") if f"  {word}" in line}
    assert len(columns) == 1, heads
    # The name too long for its column is abbreviated, never wrapped onto a second line.
    assert any(line.startswith("A component some later issue adds") and "…" in line for line in lines)


def test_a_detail_that_fits_stays_on_its_row_and_one_that_does_not_gets_indented_lines() -> None:
    lines = [line.plain for line in render(_report(), 80)]
    web = next(line for line in lines if line.startswith("EC2 Auto Scaling group"))
    assert web.endswith("2 of 2 healthy and registered")
    web1 = lines.index(next(line for line in lines if line.startswith("  web-1 ")))
    assert lines[web1 + 1].startswith("      pid 41234 port 9101")  # under its instance, deeper than a component's
    db = lines.index(next(line for line in lines if line.startswith("Amazon RDS (MySQL) primary")))
    assert lines[db].rstrip().endswith("ok")
    assert lines[db + 1].startswith("    1000 products")


def test_status_command_renders_through_the_same_view_at_columns_80() -> None:
    # The CLI's printer, run as `lakefront status` runs it, in a pipe with COLUMNS=80.
    code = ("import json, sys; from lakefront.cli.run import _print_status; "
            "_print_status(json.loads(sys.stdin.read()))")
    env = {**os.environ, "COLUMNS": "80"}
    done = subprocess.run([sys.executable, "-c", code], input=json.dumps(_report()), capture_output=True,
                          text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) > 10
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    assert any(line.startswith("  web-2 ") for line in lines)
