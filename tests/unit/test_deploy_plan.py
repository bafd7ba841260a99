"""The order of a deployment's steps per policy (control/deploy.py), without starting anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from lakefront.control.deploy import DeployRefused, Request, plan
from lakefront.control.supervisor import Instance, InstanceGroup


def group(tier: str, size: int) -> InstanceGroup:
    g = InstanceGroup(tier, size, lambda name, port: [], host="127.0.0.1", log_dir=Path("/nonexistent"))
    g.instances = [Instance(f"{tier}-{k}", tier, 10000 + k, cast(Any, None), state="in_service")
                   for k in range(1, size + 1)]
    return g


def steps(policy: str, batch: int, sizes: dict[str, int]) -> list[tuple[str, str, str]]:
    groups = {tier: group(tier, n) for tier, n in sizes.items()}
    request = Request("r", "v2", policy, batch, list(sizes))
    result = []
    for step in plan(request, groups):
        chosen = step.select(groups[step.tier]) if step.select else []
        what = ",".join(i.name for i in chosen) if step.kind == "retire" else str(step.count or "")
        result.append((step.kind, step.label, what))
    return result


def test_rolling_takes_a_batch_out_before_starting_its_replacements_and_app_goes_before_web() -> None:
    assert steps("rolling", 1, {"web": 2, "app": 2}) == [
        ("retire", "app batch 1/2", "app-1"), ("launch", "app batch 1/2", "1"), ("await", "app batch 1/2", ""),
        ("retire", "app batch 2/2", "app-2"), ("launch", "app batch 2/2", "1"), ("await", "app batch 2/2", ""),
        ("retire", "web batch 1/2", "web-1"), ("launch", "web batch 1/2", "1"), ("await", "web batch 1/2", ""),
        ("retire", "web batch 2/2", "web-2"), ("launch", "web batch 2/2", "1"), ("await", "web batch 2/2", ""),
    ]


def test_an_additional_batch_starts_and_passes_health_before_any_old_instance_leaves() -> None:
    assert steps("rolling-with-additional-batch", 2, {"app": 3}) == [
        ("launch", "app batch 1/2", "2"), ("await", "app batch 1/2", ""), ("retire", "app batch 1/2", "app-1,app-2"),
        ("launch", "app batch 2/2", "1"), ("await", "app batch 2/2", ""), ("retire", "app batch 2/2", "app-3"),
    ]


def test_immutable_starts_a_whole_new_group_then_retires_the_whole_old_one() -> None:
    assert steps("immutable", 1, {"web": 3}) == [
        ("launch", "web batch 1/1", "3"), ("await", "web batch 1/1", ""),
        ("retire", "web batch 1/1", "web-1,web-2,web-3"),
    ]


def test_rolling_refuses_a_batch_that_would_leave_no_instance_serving() -> None:
    with pytest.raises(DeployRefused, match="rolling with --batch 2 takes all 2 app"):
        steps("rolling", 2, {"app": 2})


def test_an_unknown_policy_is_refused_in_one_line() -> None:
    with pytest.raises(DeployRefused, match="unknown policy 'blue-green'"):
        steps("blue-green", 1, {"app": 2})
