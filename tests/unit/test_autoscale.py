"""The target-tracking policy and the crash-loop backoff, without a process; the CPU meter on a fake /proc
and on two real processes."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from lakefront.control.autoscale import CpuMeter, Policy, TargetTracking, backoff_s
from lakefront.settings import ScalingSettings, Settings, SettingsError, TierSettings

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


def test_the_cpu_metric_takes_its_own_target_and_names_itself_in_the_cause() -> None:
    tier = TierSettings(instances=1, scaling=ScalingSettings(metric="cpu", target_cpu_percent=60, max_instances=4))
    policy = Policy.from_settings(tier)
    assert (policy.metric, policy.target) == ("cpu", 60)
    assert Policy.from_settings(TierSettings(instances=1)).target == TierSettings().scaling.target_in_flight
    t = TargetTracking(replace(policy, window_s=1.0, scale_out_cooldown_s=0.0))
    for k in range(6):
        t.observe(100.0 + k * 0.25, [150.0])  # 150 % of a core on one instance: needs 3 at 60 %
    decision = t.decide(101.25, 1, settling=0)
    assert decision is not None and decision.desired == 3
    assert decision.cause == "CPU % 150.0 per instance > target 60"


def _write_stat(proc: Path, pid: int, utime: int, stime: int) -> None:
    (proc / str(pid)).mkdir(parents=True, exist_ok=True)
    # The command name may hold spaces and parentheses; utime and stime are fields 14 and 15.
    fields = ["S", *["0"] * 10, str(utime), str(stime), *["0"] * 8]
    (proc / str(pid) / "stat").write_text(f"{pid} (lakefront (serve) x) " + " ".join(fields) + "\n")


def test_the_cpu_meter_reads_utime_and_stime_differences_per_second(tmp_path: Path) -> None:
    meter = CpuMeter(tmp_path)
    hz = meter.ticks_per_s
    _write_stat(tmp_path, 7, 100, 50)
    _write_stat(tmp_path, 8, 0, 0)
    assert meter.sample(10.0, [7, 8]) == {}  # a first reading gives no rate
    _write_stat(tmp_path, 7, 100 + int(hz), 50 + int(hz) // 2)  # 1.5 s of CPU in 2 s
    assert meter.sample(12.0, [7, 8, 9]) == {7: 75.0, 8: 0.0}  # pid 9 has no /proc entry: left out
    _write_stat(tmp_path, 9, 0, 0)
    assert meter.sample(13.0, [9]) == {}  # 7 and 8 are forgotten, 9 starts fresh


def test_the_cpu_meter_sees_a_busy_process_use_more_than_a_sleeping_one(tmp_path: Path) -> None:
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        meter = CpuMeter()
        meter.sample(time.monotonic(), [busy.pid, idle.pid])
        time.sleep(1.0)  # the interval measured over, not a synchronisation
        rates = meter.sample(time.monotonic(), [busy.pid, idle.pid])
    finally:
        for proc in (busy, idle):
            proc.kill()
            proc.wait()
    assert rates[busy.pid] > rates[idle.pid] + 10.0, rates


def test_status_names_the_metric_a_group_tracks() -> None:
    from lakefront.control.status import scaling_detail

    group = {"size": 2, "desired": 3, "min": 1, "max": 4, "metric": 88.5, "backoff": [], "activities": []}
    cpu = scaling_detail(group | {"metric_name": "cpu", "target": 70.0})
    assert cpu == "size 2/desired 3 (min 1, max 4), target 70% CPU (now 88.5)"
    in_flight = scaling_detail(group | {"metric_name": "in_flight", "target": 4.0})
    assert in_flight.endswith("target 4 in flight (now 88.5)")
    assert scaling_detail(group | {"metric_name": "in_flight", "target": 0.0}).endswith("target tracking off")
