"""One `lakefront load` run against the system `lakefront up` is running.

1. Read the run state (var/run/state.json): the public listener, the profile, the sign-up limit.
2. Write the plan into the run directory and start Locust headless in a process of its own (it
   monkey-patches the standard library with gevent; this process stays plain Python).
3. While it runs: read its samples as they arrive, show a one-screen summary, and with `--chaos`
   inject each fault when due (faults.py), recording when and what.
4. Then account for every checkout against the database (account.py) and write the report (report.py).

The shoppers sign up once each and keep their sessions, so a run signs up at most `users` accounts
and never fails a sign-in; the failed-sign-in limits are untouched. Sign-ups are limited per address
(auth.signup_address_limit, 20 an hour by default) and every shopper comes from loopback, so a run
with more shoppers than the running stack allows is refused before it starts.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from lakefront.data.endpoints import writer_url
from lakefront.load import faults as faults_mod
from lakefront.load import locustfile_path
from lakefront.load.account import OrderAccount, account_run, read_attempts
from lakefront.load.mixes import MIXES
from lakefront.load.plan import FAULTS, ORDERS, SAMPLES, LoadPlan
from lakefront.load.report import write as write_report
from lakefront.load.stats import Figures, SampleReader
from lakefront.settings import Settings

STOP_TIMEOUT_S = 20
"""How long Locust lets a shopper finish the interaction in hand when the run ends (a checkout's
outcome must be known for the account)."""


class LoadRefused(Exception):
    """The run cannot start (nothing running, a limit that would refuse the shoppers); one line."""


@dataclass
class LoadOptions:
    mix: str = "shopping"
    users: int = 10
    mode: Literal["closed", "open"] = "closed"
    rate: float = 20.0
    duration_s: float = 60.0
    think_s: float = 1.0
    seed: int = 1
    out_dir: Path | None = None
    chaos: list[str] | None = None
    """Fault targets in schedule order, or None for no faults."""
    fault_times: list[float] = field(default_factory=list)
    """Explicit seconds for the faults (one per target); empty: spread evenly (faults.schedule)."""


@dataclass
class LoadResult:
    report: Path
    orders: OrderAccount
    summary: dict[str, Any]
    faults: list[dict[str, Any]]

    @property
    def exit_code(self) -> int:
        return 1 if self.orders.verdict == "fail" else 0


def _stack(settings: Settings) -> tuple[dict[str, Any], Settings]:
    from lakefront.control.state import running_state

    state = running_state(settings.state_file)
    if state is None:
        raise LoadRefused(f"nothing is running under {settings.var_dir}: start the system with `lakefront up`")
    return state, Settings.model_validate(state["settings"])


def check_options(options: LoadOptions, stack: Settings) -> None:
    if options.mix not in MIXES:
        raise LoadRefused(f"unknown mix {options.mix!r}; choose from {', '.join(MIXES)}")
    limit = stack.auth.signup_address_limit
    if options.users > limit:
        raise LoadRefused(
            f"{options.users} shoppers may each sign up once, but the running stack allows {limit} sign-ups "
            f"per address every {stack.auth.signup_window_s:g} s (auth.signup_address_limit); start it with "
            f"LAKEFRONT_AUTH__SIGNUP_ADDRESS_LIMIT={max(1000, options.users * 10)} or use fewer shoppers")
    if options.chaos and options.fault_times and len(options.fault_times) != len(options.chaos):
        raise LoadRefused(f"{len(options.chaos)} chaos targets but {len(options.fault_times)} fault times")


def _locust(plan: LoadPlan, plan_path: Path) -> subprocess.Popen[bytes]:
    spawn_rate = plan.users if plan.mode == "open" else max(1.0, plan.users / 2)
    argv = [sys.executable, "-m", "locust", "-f", str(locustfile_path()), "--headless", "-H", plan.url,
            "-u", str(plan.users), "-r", f"{spawn_rate:g}", "-t", f"{max(1, round(plan.duration_s))}s",
            "--stop-timeout", str(STOP_TIMEOUT_S), "--exit-code-on-error", "0", "--only-summary",
            "--loglevel", "WARNING", "--lakefront-plan", str(plan_path)]
    log = open(Path(plan.out_dir) / "locust.log", "wb")  # noqa: SIM115 (the child holds it)
    try:
        # Our own argv: the interpreter running this, Locust, and paths we made.
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,  # nosec B603
                                env=os.environ.copy())
    finally:
        log.close()


def _inject(target: faults_mod.Target, fault: faults_mod.Fault, settings: Settings,
            at_s: float) -> dict[str, Any]:
    from lakefront.control.state import read_state

    state = read_state(settings.state_file) or {}
    try:
        detail = target.inject(state)
        return {"at_s": round(at_s, 2), "target": fault.target, "detail": detail}
    except faults_mod.NotApplicable as exc:
        return {"at_s": round(at_s, 2), "target": fault.target, "detail": str(exc), "skipped": True}
    except OSError as exc:  # the process was gone already (replaced between reading the state and now)
        return {"at_s": round(at_s, 2), "target": fault.target, "detail": f"kill failed: {exc}", "skipped": True}


def run(settings: Settings, options: LoadOptions, *, progress: Callable[[str], None],
        kill: Callable[[int], None] | None = None) -> LoadResult:
    """Run the load; `progress` gets the one-screen summary about once a second."""
    import json

    _, stack = _stack(settings)
    check_options(options, stack)
    run_id = secrets.token_hex(4)
    out_dir = options.out_dir or settings.var_dir / "load" / f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{run_id}"
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = LoadPlan(url=stack.public_url, mix=options.mix, users=options.users, mode=options.mode,
                    rate=options.rate, duration_s=options.duration_s, think_s=options.think_s, run_id=run_id,
                    seed=options.seed, out_dir=str(out_dir))
    targets = faults_mod.targets(kill) if kill else faults_mod.targets()
    schedule: list[faults_mod.Fault] = []
    if options.chaos:
        schedule = ([faults_mod.Fault(at, name) for at, name in zip(options.fault_times, options.chaos, strict=True)]
                    if options.fault_times else faults_mod.schedule(options.chaos, options.duration_s))
    proc = _locust(plan, plan.write())
    started = time.time()
    figures = Figures(started=started)
    reader = SampleReader(out_dir / SAMPLES)
    injected: list[dict[str, Any]] = []
    pending = list(schedule)
    deadline = started + options.duration_s + STOP_TIMEOUT_S + 60
    try:
        while proc.poll() is None:
            now = time.time()
            if now > deadline:
                proc.kill()
                break
            while pending and now - started >= pending[0].at_s:
                fault = pending.pop(0)
                event = _inject(targets[fault.target], fault, settings, now - started)
                injected.append(event)
                with open(out_dir / FAULTS, "a") as fh:
                    fh.write(json.dumps(event) + "\n")
            figures.add(reader.read_new())
            progress(screen(plan, figures, injected, now - started, read_attempts(out_dir / ORDERS)))
            time.sleep(1.0)
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait()
    figures.add(reader.read_new())
    attempts = read_attempts(out_dir / ORDERS)
    orders = account_run(out_dir / ORDERS, writer_url(stack), f"load-{run_id}-%@{plan.email_domain}")
    report = write_report(out_dir, plan, figures, injected, attempts, orders, profile=stack.profile.value)
    return LoadResult(report, orders, figures.summary(), injected)


def screen(plan: LoadPlan, figures: Figures, faults: list[dict[str, Any]], elapsed: float,
           attempts: list[dict[str, Any]]) -> str:
    """The one-screen summary while a run goes on: totals, the last 10 s, each interaction, faults."""
    recent = figures.window(max(0.0, elapsed - 10), elapsed + 1)
    total, last = figures.summary(), figures.summary(recent, seconds=min(10.0, max(elapsed, 1.0)))
    outcomes = {k: sum(1 for a in attempts if a["outcome"] == k) for k in ("ok", "failed", "unknown")}
    done = min(1.0, elapsed / max(plan.duration_s, 1))
    bar = "#" * int(done * 30) + "." * (30 - int(done * 30))
    lines = [
        f"lakefront load {plan.run_id}  {plan.mix} mix, {plan.mode} loop, {plan.users} users  "
        f"[{bar}] {elapsed:4.0f}/{plan.duration_s:g} s",
        f"  all      {total['requests']:7,} req  {total['errors']:5} failed  p50 {_ms(total['p50'])}  "
        f"p99 {_ms(total['p99'])}",
        f"  last 10s {last['rps']:7.1f} req/s {last['errors']:4} failed  p50 {_ms(last['p50'])}  "
        f"p99 {_ms(last['p99'])}",
        f"  orders   {outcomes['ok']} ok, {outcomes['failed']} refused, {outcomes['unknown']} unknown",
    ]
    for name, s in figures.by_interaction().items():
        lines.append(f"    {name:12} {s['requests']:7,}  p50 {_ms(s['p50'])}  p99 {_ms(s['p99'])}  "
                     f"failed {s['errors']}")
    lines += [f"  fault at {f['at_s']:5.1f} s: {f['target']}: {'skipped: ' if f.get('skipped') else ''}{f['detail']}"
              for f in faults]
    return "\n".join(lines)


def _ms(value: float) -> str:
    return "     -" if value != value else f"{value:6.0f}ms"  # NaN before the first sample
