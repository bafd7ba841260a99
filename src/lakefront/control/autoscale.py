"""Auto Scaling policy, pure: target tracking on requests in flight per instance, cooldowns, warm-up,
and the crash-loop backoff. No I/O: the instance group (supervisor.py) feeds it samples and acts on
its decisions, so every rule here is tested without a process (tests/unit/test_autoscale.py).

The default metric is Caddy's `num_requests` for each upstream (requests in flight through the balancer),
read once a supervision tick from its admin API. Requests in flight, not requests per second: it needs no
counter on the instances, it rises as soon as an instance falls behind, and on one machine it is what
an overloaded instance shows first. `scaling.metric = "cpu"` follows each instance process's CPU use
instead (CpuMeter, from /proc), as an ASG's average CPU utilization policy does.
"""

from __future__ import annotations

import math
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from lakefront.settings import TierSettings

EPSILON = 1e-9


@dataclass(frozen=True)
class Policy:
    min_size: int
    max_size: int
    target: float
    """The metric's value per instance aimed at; 0: no target tracking."""
    window_s: float
    scale_out_cooldown_s: float
    scale_in_cooldown_s: float
    warmup_s: float
    metric: str = "in_flight"
    """in_flight (requests in flight per instance) or cpu (percent of one core per instance)."""

    @classmethod
    def from_settings(cls, tier: TierSettings) -> Policy:
        s = tier.scaling
        target = s.target_cpu_percent if s.metric == "cpu" else s.target_in_flight
        return cls(tier.min_instances, tier.max_instances, target, s.metric_window_s,
                   s.scale_out_cooldown_s, s.scale_in_cooldown_s, s.warmup_s, s.metric)

    def clamp(self, desired: int) -> int:
        return max(self.min_size, min(self.max_size, desired))


@dataclass(frozen=True)
class Decision:
    desired: int
    cause: str


class MetricWindow:
    """Samples of (time, requests in flight per settled instance), averaged over the window."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, float]] = deque()

    def add(self, now: float, per_instance: float) -> None:
        self._samples.append((now, per_instance))
        while self._samples and self._samples[0][0] < now - self.window_s:
            self._samples.popleft()

    def clear(self) -> None:
        self._samples.clear()

    def full(self, now: float) -> bool:
        """True once the samples span most of the window (a decision on one sample would chase noise)."""
        return bool(self._samples) and now - self._samples[0][0] >= self.window_s * 0.8

    def mean(self) -> float:
        return sum(v for _, v in self._samples) / len(self._samples) if self._samples else 0.0


class TargetTracking:
    """Decides the desired capacity from the metric, as an ASG's target-tracking policy does."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.window = MetricWindow(policy.window_s)
        self.last_activity = -math.inf
        """Monotonic time of the last scaling activity (by the policy or by hand): cooldowns start there."""

    def observe(self, now: float, values: list[float]) -> None:
        """One sample: the metric of each settled (in service, warmed-up) instance."""
        if values:
            self.window.add(now, sum(values) / len(values))

    def activity(self, now: float) -> None:
        self.last_activity = now
        # Samples taken at the old size say nothing about the new one.
        self.window.clear()

    def decide(self, now: float, desired: int, *, settling: int) -> Decision | None:
        """A new desired capacity, or None. `settling`: instances starting or warming up."""
        p = self.policy
        if p.target <= 0 or not self.window.full(now):
            return None
        metric = self.window.mean()
        # The group's load (per instance times instances) over the target per instance: what it needs.
        needed = p.clamp(max(1, math.ceil(metric * desired / p.target - EPSILON)))
        label = "CPU %" if p.metric == "cpu" else "in-flight"
        cause = f"{label} {metric:.1f} per instance {{}} target {p.target:g}"
        if needed > desired and now - self.last_activity >= p.scale_out_cooldown_s:
            return Decision(needed, cause.format(">"))
        if needed < desired and settling == 0 and now - self.last_activity >= p.scale_in_cooldown_s:
            # One at a time: each scale-in drains an instance, and the next is decided on fresh samples.
            return Decision(desired - 1, cause.format("<"))
        return None


class CpuMeter:
    """CPU use of processes in percent of one core, from the difference of /proc/<pid>/stat's utime + stime
    between two readings (the first reading of a pid gives nothing)."""

    def __init__(self, proc: Path = Path("/proc")) -> None:
        self.proc = proc
        self.ticks_per_s = float(os.sysconf("SC_CLK_TCK"))
        self._last: dict[int, tuple[float, int]] = {}

    def _ticks(self, pid: int) -> int | None:
        try:
            stat = (self.proc / str(pid) / "stat").read_text()
        except OSError:
            return None
        # Fields after the command name (which may hold spaces, in parentheses): utime is the 14th, stime 15th.
        fields = stat.rpartition(")")[2].split()
        return int(fields[11]) + int(fields[12])

    def sample(self, now: float, pids: list[int]) -> dict[int, float]:
        """{pid: percent of one core since its last reading} for the pids read before; others are remembered."""
        out: dict[int, float] = {}
        for pid in pids:
            ticks = self._ticks(pid)
            if ticks is None:
                self._last.pop(pid, None)
                continue
            last = self._last.get(pid)
            if last is not None and now > last[0]:
                out[pid] = 100.0 * (ticks - last[1]) / self.ticks_per_s / (now - last[0])
            self._last[pid] = (now, ticks)
        for gone in set(self._last) - set(pids):
            del self._last[gone]
        return out


def backoff_s(crashes: int, base_s: float, cap_s: float) -> float:
    """Seconds before the next start after `crashes` crashes in a row: 0 for the first exit, then doubling."""
    if crashes <= 0:
        return 0.0
    return float(min(cap_s, base_s * 2 ** (crashes - 1)))
