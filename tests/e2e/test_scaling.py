"""`lakefront scale` on a running `lakefront up`: out and in by hand, under load through the public
listener, refused outside min/max with one line; `status --json` shows the group and its last activity."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from .browsing import Browsing
from .conftest import Stack, start_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def scalable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack(tmp_path_factory.mktemp("scaling"), "--web", "1", "--app", "1",
                        LAKEFRONT_WEB__SCALING__MAX_INSTANCES="3", LAKEFRONT_WEB__SCALING__TARGET_IN_FLIGHT="0",
                        LAKEFRONT_WEB__SCALING__DEREGISTRATION_DELAY_S="1",
                        LAKEFRONT_APP__SCALING__MAX_INSTANCES="1")
    yield stack
    stack.stop()


def test_scale_out_and_in_by_hand_under_load_loses_no_request(scalable: Stack) -> None:
    out = scalable.lakefront("scale", "web", "3", "--timeout", "150", timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "done: web has 3 instance(s) in service" in out.stdout
    status = json.loads(scalable.lakefront("status", "--json", timeout=180).stdout)
    group = status["groups"]["web"]
    assert (group["size"], group["desired"], group["min"], group["max"]) == (3, 3, 1, 3)
    assert group["activities"][-1]["cause"].startswith("set by hand to 3")
    web_row = next(c for c in status["components"] if c["id"] == "web")
    assert "size 3/desired 3 (min 1, max 3)" in web_row["detail"]

    with Browsing(scalable.public_url, clients=4, pages=("/",)) as load:
        out = scalable.lakefront("scale", "web", "1", "--timeout", "150", timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    assert load.statuses["200"] > 0 and load.failed == {}, load.statuses
    # Two instances leave, each one balancer update (a config reload, closing idle kept-alive connections).
    assert load.dropped <= 2, f"{load.dropped} of {load.statuses.total()} requests lost their connection"
    state = scalable.state()
    assert len([i for i in state["instances"] if i["tier"] == "web"]) == 1
    assert "deregistered web-" in scalable.output() and "draining" in scalable.output()


def test_scale_outside_min_max_is_refused_with_one_line(scalable: Stack) -> None:
    out = scalable.lakefront("scale", "web", "9")
    assert out.returncode == 2  # a user's mistake: one line, exit 2, as every command
    assert out.stderr.strip().count("\n") == 0
    assert "desired 9 is outside the group's min 1 .. max 3" in out.stderr
    out = scalable.lakefront("scale", "db", "2")
    assert out.returncode == 2 and "no group 'db'" in out.stderr
