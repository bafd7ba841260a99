"""Figures from a run's samples: percentiles per interaction and per second, and the faults' windows."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class Sample:
    t: float
    name: str
    ms: float
    ok: bool
    status: int
    error: str | None

    @classmethod
    def parse(cls, line: str) -> Sample:
        d = json.loads(line)
        return cls(d["t"], d["n"], d["ms"], d["ok"], d["s"], d["e"])


class SampleReader:
    """Reads samples.jsonl as it grows (the Locust process appends to it), whole lines only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = ""

    def read_new(self) -> list[Sample]:
        if not self.path.exists():
            return []
        with open(self.path) as fh:
            fh.seek(self._offset)
            chunk = fh.read()
            self._offset = fh.tell()
        text = self._partial + chunk
        lines = text.split("\n")
        self._partial = lines.pop()
        return [Sample.parse(line) for line in lines if line.strip()]


@dataclass
class Figures:
    """Everything the report and the progress screen show, from the samples of one run."""

    started: float
    samples: list[Sample] = field(default_factory=list)

    def add(self, new: list[Sample]) -> None:
        self.samples.extend(new)

    @property
    def errors(self) -> int:
        return sum(not s.ok for s in self.samples)

    def window(self, since: float, until: float) -> list[Sample]:
        return [s for s in self.samples if since <= s.t - self.started < until]

    def summary(self, samples: list[Sample] | None = None, seconds: float | None = None) -> dict[str, Any]:
        chosen = self.samples if samples is None else samples
        ms = [s.ms for s in chosen]
        span = seconds if seconds is not None else self.elapsed
        return {"requests": len(chosen), "errors": sum(not s.ok for s in chosen),
                "rps": len(chosen) / span if span > 0 else 0.0, "p50": percentile(ms, 50),
                "p90": percentile(ms, 90), "p99": percentile(ms, 99), "max": max(ms) if ms else math.nan}

    @property
    def elapsed(self) -> float:
        return max((s.t for s in self.samples), default=self.started) - self.started

    def by_interaction(self) -> dict[str, dict[str, Any]]:
        groups: dict[str, list[Sample]] = defaultdict(list)
        for s in self.samples:
            groups[s.name].append(s)
        return {name: self.summary(group) for name, group in sorted(groups.items())}

    def per_second(self, bucket_s: float = 1.0) -> list[dict[str, Any]]:
        """One row per bucket from the start: t, requests/s, errors/s, p50 and p99 of the bucket."""
        buckets: dict[int, list[Sample]] = defaultdict(list)
        for s in self.samples:
            buckets[int((s.t - self.started) // bucket_s)].append(s)
        last = max(buckets, default=-1)
        rows = []
        for i in range(last + 1):
            group = buckets.get(i, [])
            ms = [s.ms for s in group]
            rows.append({"t": i * bucket_s, "rps": len(group) / bucket_s,
                         "eps": sum(not s.ok for s in group) / bucket_s,
                         "p50": percentile(ms, 50), "p99": percentile(ms, 99)})
        return rows

    def errors_by_kind(self) -> dict[str, int]:
        kinds: dict[str, int] = defaultdict(int)
        for s in self.samples:
            if not s.ok:
                kinds[f"{s.name}: {s.status or (s.error or 'error').split(':')[0][:60]}"] += 1
        return dict(sorted(kinds.items(), key=lambda kv: -kv[1]))
