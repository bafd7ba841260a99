"""One load run's parameters, written to the run directory for the Locust process to read."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

SAMPLES = "samples.jsonl"
"""One JSON line per HTTP request: t (end, epoch s), n (interaction), ms (latency from the intended
start: queueing included in open mode), svc (service time), ok, s (status), e (error)."""
ORDERS = "orders.jsonl"
"""One JSON line per checkout attempt: key, email, outcome (ok, failed, unknown), order_id, status, tries, t."""
FAULTS = "faults.jsonl"
"""One JSON line per fault: t, target, detail, or skipped with the reason."""
PLAN = "plan.json"


@dataclass(frozen=True)
class LoadPlan:
    url: str
    """The public listener the shoppers use."""
    mix: str
    users: int
    """Closed loop: the number of shoppers. Open loop: the most interactions in flight at once."""
    mode: Literal["closed", "open"]
    rate: float
    """Open loop: interactions started per second (Poisson arrivals), whatever the latency."""
    duration_s: float
    think_s: float
    """Closed loop: mean think time between a shopper's interactions."""
    run_id: str
    """Names the run's accounts (load-<run_id>-<n>@load.lakefront.test), so its orders can be found."""
    seed: int
    out_dir: str

    def write(self) -> Path:
        path = Path(self.out_dir) / PLAN
        path.write_text(json.dumps(asdict(self), indent=2))
        return path

    @classmethod
    def read(cls, path: Path) -> LoadPlan:
        return cls(**json.loads(path.read_text()))

    @property
    def email_domain(self) -> str:
        return "load.lakefront.test"

    def email(self, n: int) -> str:
        return f"load-{self.run_id}-{n}@{self.email_domain}"
