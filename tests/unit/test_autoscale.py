"""The target-tracking policy and the crash-loop backoff, without a process."""

from __future__ import annotations

import pytest

from lakefront.control.autoscale import Policy, TargetTracking, backoff_s
from lakefront.settings import Settings, SettingsError

POLICY = Policy(min_size=1, max_size=4, target=4.0, window_s=1.0, scale_out_cooldown_s=10.0,
                scale_in_cooldown_s=30.0, warmup_s=5.0)


def tracking(samples: list[float], per: int = 2, start: float = 100.0) -> TargetTracking:
    t = TargetTracking(POLICY)
    for k, value in enumerate(samples):
        t.observe(start + k * 0.25, [int(value)] * per)
    return t


def test_load_over_the_target_asks_for_the_instances_it_needs_and_says_why() -> None:
    t = tracking([8] * 5)  # 8 in flight on each of 2 instances: 16 total, 4 per instance needs 4
    decision = t.decide(101.0, 2, settling=0)
    assert decision is not None and decision.desired == 4
    assert decision.cause == "in-flight 8.0 per instance > target 4"


def test_scale_out_never_goes_past_max_and_waits_for_its_cooldown() -> None:
    t = tracking([40] * 5)
    assert t.decide(101.0, 2, settling=0).desired == 4  # type: ignore[union-attr]
    t.activity(101.0)
    for k in range(5):
        t.observe(102.0 + k * 0.25, [40, 40])
    assert t.decide(103.0, 2, settling=0) is None  # within the 10 s cooldown
    for k in range(5):
        t.observe(111.0 + k * 0.25, [40, 40])
    assert t.decide(112.0, 2, settling=0).desired == 4  # type: ignore[union-attr]


def test_scale_in_goes_one_at_a_time_after_its_cooldown_and_not_while_instances_warm_up() -> None:
    t = tracking([0] * 5)
    t.last_activity = 90.0
    assert t.decide(101.0, 3, settling=0) is None  # 11 s after the last activity; cooldown 30 s
    t.last_activity = 50.0
    assert t.decide(101.0, 3, settling=1) is None  # one instance still warming up
    decision = t.decide(101.0, 3, settling=0)
    assert decision is not None and decision.desired == 2 and "< target 4" in decision.cause


def test_no_decision_on_a_window_not_yet_full_or_with_the_policy_off() -> None:
    assert tracking([50]).decide(100.0, 2, settling=0) is None
    off = TargetTracking(Policy(1, 4, 0.0, 1.0, 0.0, 0.0, 0.0))
    for k in range(5):
        off.observe(100 + k * 0.25, [50])
    assert off.decide(101.0, 1, settling=0) is None


def test_load_at_the_target_keeps_the_size() -> None:
    assert tracking([4] * 5).decide(101.0, 2, settling=0) is None


def test_min_never_goes_below_one_and_the_size_never_below_min() -> None:
    assert POLICY.clamp(0) == 1 and POLICY.clamp(9) == 4


def test_crash_loop_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff_s(n, 1.0, 10.0) for n in range(6)] == [0.0, 1.0, 2.0, 4.0, 8.0, 10.0]


def test_group_bounds_default_to_the_start_size_and_a_min_above_it_is_refused() -> None:
    s = Settings(web={"instances": 3})
    assert (s.web.min_instances, s.web.max_instances) == (3, 4)
    assert Settings(app={"instances": 6}).app.max_instances == 6
    with pytest.raises((SettingsError, ValueError), match="min_instances"):
        Settings(web={"instances": 2, "scaling": {"min_instances": 3}})
