"""Rolling deployments end to end (issue #12, the Elastic Beanstalk role): `lakefront deploy` rolls a
version onto the app and web instances of a running `lakefront up` while shoppers browse through the
public listener, and a version that fails its health check is rolled back without a failed request.

A version here is what a user would deploy: a copy of this checkout's package with one change, given
with `--source DIR`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import lakefront

from .browsing import Browsing
from .conftest import Stack, start_stack

pytestmark = pytest.mark.e2e

BUILD_HEADER = "x-lakefront-build"
RELOADS = 8
"""Balancer config changes of a deployment over 2 + 2 instances (one out, one in, per instance): the bound
on dropped connections, each retried once."""


def make_version(root: Path, build: str, *, healthy: bool = True) -> Path:
    """A copy of the installed package whose every answer (both tiers) carries `x-lakefront-build: build`;
    with healthy=False, its app tier's /healthz answers 500."""
    src = root / build / "src"
    shutil.copytree(Path(lakefront.__file__).parent, src / "lakefront",
                    ignore=shutil.ignore_patterns("__pycache__"))
    _patch(src / "lakefront/web/headers.py", '    "x-frame-options": "DENY",',
           f'    "x-frame-options": "DENY",\n    "{BUILD_HEADER}": "{build}",')
    _patch(src / "lakefront/api/middleware.py", '(b"x-content-type-options", b"nosniff")]',
           f'(b"x-content-type-options", b"nosniff"), (b"{BUILD_HEADER}", b"{build}")]')
    if not healthy:
        _patch(src / "lakefront/api/routes/health.py", '    return {"status": "ok", "instance": app.instance',
               '    raise RuntimeError("this build is broken")\n    return {"status": "ok", "instance": app.instance')
    return src


def _patch(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{path}: {old!r} not found once"
    path.write_text(text.replace(old, new))


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("deploy"), LAKEFRONT_DEMO__SCALE="0.01",
                          LAKEFRONT_EXTRACT__INTERVAL_S="0")
    try:
        yield running
    finally:
        running.stop()


def _builds_of_instances(stack: Stack) -> dict[str, str]:
    return {i["name"]: httpx.get(f"http://127.0.0.1:{i['port']}/healthz", timeout=10).headers.get(BUILD_HEADER, "-")
            for i in stack.state()["instances"]}


def _list_row(stack: Stack, version: str) -> str:
    listing = stack.lakefront("deploy", "--list")
    assert listing.returncode == 0, listing.stderr
    return next(line for line in listing.stdout.splitlines() if line.startswith(f"{version} "))


def test_a_rolling_deploy_under_load_fails_no_request_and_every_instance_then_runs_the_new_version(
        shop: Stack, tmp_path: Path) -> None:
    source = make_version(tmp_path, "b2")
    with Browsing(shop.public_url, build_header=BUILD_HEADER) as load:
        done = shop.lakefront("deploy", "--source", str(source), "--policy", "rolling", "--batch", "1",
                              timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "app batch 2/2" in done.stdout and "web batch 2/2" in done.stdout, done.stdout
    assert load.failed == {}, load.statuses
    assert load.statuses["200"] > 0
    assert load.dropped <= RELOADS, f"{load.dropped} of {load.statuses.total()} requests lost their connection"
    state = shop.state()
    version = state["deployment"]["version"]
    assert state["deployment"]["status"] == "deployed"
    assert sorted(i["tier"] for i in state["instances"]) == ["app", "app", "web", "web"]
    assert {i["version"] for i in state["instances"]} == {version}
    assert set(_builds_of_instances(shop).values()) == {"b2"}
    assert httpx.get(f"{shop.public_url}/", timeout=10).headers[BUILD_HEADER] == "b2"
    row = _list_row(shop, version)
    assert " deployed " in row and "app,web" in row, row


def test_a_version_failing_its_health_check_is_rolled_back_without_a_failed_request(
        shop: Stack, tmp_path: Path) -> None:
    before = {i["version"] for i in shop.state()["instances"]}
    source = make_version(tmp_path, "b3-broken", healthy=False)
    with Browsing(shop.public_url, build_header=BUILD_HEADER) as load:
        done = shop.lakefront("deploy", "--source", str(source), "--policy", "rolling-with-additional-batch",
                              "--health-timeout", "8", timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "rolled back: app-" in done.stdout and "failed its health check" in done.stdout, done.stdout
    assert load.failed == {}, load.statuses
    assert load.dropped <= RELOADS, f"{load.dropped} of {load.statuses.total()} requests lost their connection"
    assert "b3-broken" not in load.builds
    state = shop.state()
    bad = state["deployment"]["version"]
    assert state["deployment"]["status"] == "rolled back"
    assert {i["version"] for i in state["instances"]} == before
    assert sorted(i["tier"] for i in state["instances"]) == ["app", "app", "web", "web"]
    assert set(_builds_of_instances(shop).values()) == {"b2"}
    row = _list_row(shop, bad)
    assert " rolled-back " in row and "failed its health check" in row, row
    status = shop.lakefront("status", "--json")
    app_row = next(c for c in json.loads(status.stdout)["components"] if c["id"] == "app")
    assert f"deploy {bad}: rolled back: " in app_row["detail"], app_row["detail"]
