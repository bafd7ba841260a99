"""How long does a dashboard take to draw? Navigation to `rendered` in Chromium, per dashboard, cold and warm.

Seeds the demo data (embedded profile) into a var dir per scale, or reuses one with --var-dir, runs
`lakefront pipeline` once, then starts two whole stacks over that data with `lakefront up` (Caddy, 2 web and
2 app instances each, the schedule off so the lake does not change under the measurement), one per mode, and
drives Debian's Chromium through Playwright, signed in as the demo admin, through the public load balancers,
alternating between the modes load by load.

One load is `page.goto(dashboard)` until every visual has drawn: the page sets body[data-rendered-at] to
performance.now() (milliseconds since the navigation started) when the last visual has drawn, so the figure
includes the HTML (with its server-rendered KPIs), the scripts (ECharts from the browser's cache after the
first load), every visual's data through web tier -> internal LB -> app tier, and the drawing. "HTML" is the
page's last byte; "data" the span of the visuals' data requests (first start to last end), from the browser's
resource timing.

- cold: the app tier's result cache off (LAKEFRONT_ANALYTICS__CACHE_ENTRIES=0), so every visual's query runs
  in DuckDB over the marts in memory: what the first load after a pipeline commit costs (a commit drops the
  cached results), minus re-reading the marts from the lake, which is `first load` below.
- warm: the result cache on (the default); each dashboard loaded three times first, so both app instances
  hold its results.
- first load: the first navigation after the app instances start, which also loads the marts from the lake.

    .venv/bin/python bench/dashboard_render_bench.py --scale 1 --loads 20
    .venv/bin/python bench/dashboard_render_bench.py --scale 0.05 --loads 10 --var-dir /tmp/lakefront-dash-bench
    .venv/bin/python bench/dashboard_render_bench.py --url http://127.0.0.1:8080 --loads 20   # a running stack, as is
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from _up import start_up, stop_up

from lakefront.servers.procs import free_port
from lakefront.settings import LakeSettings, ObjectStoreSettings

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = ("sales", "customers", "funnel", "inventory")
UNTIL = date(2026, 10, 31)  # fixed, so a scale always gives the same data
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
ADMIN = ("admin@lakefront.local", "lakefront-admin")


def step(message: str) -> None:
    print(f"# {message}", flush=True)


def base_env(var_dir: Path) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("LAKEFRONT_")} | {
        "LAKEFRONT_VAR_DIR": str(var_dir), "LAKEFRONT_CONFIG": str(var_dir / "none.toml"),
        "LAKEFRONT_LOG_LEVEL": "warning"}


def lakefront(env: dict[str, str], *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "lakefront", *args], env=env, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"lakefront {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def prepare(var_dir: Path, scale: float, seed: int) -> None:
    """Seed and run the pipeline once per var dir; a second bench run reuses both."""
    env = base_env(var_dir)
    var_dir.mkdir(parents=True, exist_ok=True)
    if not (var_dir / "db" / "lakefront.sqlite3").exists():
        step(f"seeding scale {scale:g} into {var_dir}")
        began = time.perf_counter()
        lakefront(env, "seed", "--scale", str(scale), "--seed", str(seed), "--until", UNTIL.isoformat())
        step(f"seeded in {time.perf_counter() - began:.0f} s")
    # The children run with the default settings (base_env), so the lake is in the default lake bucket.
    lake_dir = var_dir / "objects" / ObjectStoreSettings().buckets["lake"] / LakeSettings().prefix
    if not (lake_dir / "marts").exists():
        began = time.perf_counter()
        lakefront(env, "pipeline")
        step(f"pipeline in {time.perf_counter() - began:.0f} s")


class Stack:
    """`lakefront up` over a prepared var dir; stop() ends exactly the process it started."""

    def __init__(self, data_dir: Path, name: str, **extra: str) -> None:
        # Its own var dir (state, logs, cache file, secret) over the prepared database and lake.
        self.var_dir = data_dir / name
        self.var_dir.mkdir(parents=True, exist_ok=True)
        ports = {"LB__PUBLIC_PORT": free_port(), "LB__INTERNAL_PORT": free_port(), "LB__ADMIN_PORT": free_port()}
        self.env = base_env(self.var_dir) | {f"LAKEFRONT_{k}": str(v) for k, v in ports.items()} | {
            "LAKEFRONT_DB__WRITER_URL": f"sqlite:///{data_dir / 'db' / 'lakefront.sqlite3'}",
            "LAKEFRONT_OBJECTS__ROOT": str(data_dir / "objects"),
            "LAKEFRONT_LAKE__CATALOG_URL": f"sqlite:///{data_dir / 'lake' / 'catalog.sqlite3'}",
            "LAKEFRONT_EXTRACT__INTERVAL_S": "0", **extra}
        self.url = f"http://127.0.0.1:{ports['LB__PUBLIC_PORT']}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = start_up(self.var_dir, self.env, timeout_s=600)

    def stop(self) -> None:
        stop_up(self.proc)


@dataclass
class Series:
    mode: str
    dashboard: str
    ms: list[float] = field(default_factory=list)
    html_ms: list[float] = field(default_factory=list)
    data_ms: list[float] = field(default_factory=list)

    def pct(self, values: list[float], p: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


class Tab:
    """One Chromium tab signed in as the demo admin; the browser's HTTP cache is kept between loads."""

    def __init__(self, browser: Any, base: str) -> None:
        self.base = base
        self._context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self._context.new_page()
        self.page.set_default_timeout(120_000)
        self.page.goto(f"{base}/signin")
        self.page.fill("input[name=email]", ADMIN[0])
        self.page.fill("input[name=password]", ADMIN[1])
        self.page.click("form[action='/signin'] button[type=submit]")
        self.page.wait_for_load_state()
        if "Sign out" not in self.page.content():
            raise SystemExit(f"could not sign in as {ADMIN[0]} at {base}")

    def load(self, dashboard: str) -> tuple[float, float, float]:
        """ms from navigation start to: every visual drawn, the HTML's last byte; and the data requests' span."""
        self.page.goto(f"{self.base}/dashboards/{dashboard}")
        # A selector, not wait_for_function: that one eval()s in the page, which the CSP refuses.
        self.page.locator("body[data-rendered='1']").wait_for(state="attached")
        if self.page.locator("[data-error]").count():
            raise SystemExit(f"{dashboard}: a visual failed: {self.page.locator('[data-error]').first.inner_text()}")
        rendered, html, data = self.page.evaluate("""() => {
            const data = performance.getEntriesByType('resource').filter(e => e.name.includes('/data/'));
            const span = data.length ? Math.max(...data.map(e => e.responseEnd))
                                       - Math.min(...data.map(e => e.startTime)) : 0;
            return [Number(document.body.dataset.renderedAt),
                    performance.getEntriesByType('navigation')[0].responseEnd, span];
        }""")
        return float(rendered), float(html), float(data)

    def cached(self, dashboard: str, visual: str) -> bool:
        """Whether the app tier answered this visual from its result cache (asked through the web tier)."""
        return bool(self.page.evaluate(
            "url => fetch(url).then(r => r.json()).then(b => b.cached)",
            f"{self.base}/dashboards/{dashboard}/data/{visual}"))

    def close(self) -> None:
        self._context.close()


def measure(bases: dict[str, str], loads: int, primes: dict[str, int]) -> tuple[list[Series], dict[str, float]]:
    """Every dashboard `loads` times per mode, the modes interleaved load by load, so whatever else the machine
    is doing weighs on both alike. Returns the series and each mode's very first load (ms)."""
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    # One Chromium, one context (cookies, HTTP cache) per mode.
    tabs = {mode: Tab(browser, base) for mode, base in bases.items()}
    firsts: dict[str, float] = {}
    try:
        series = {(mode, d): Series(mode, d) for mode in tabs for d in DASHBOARDS}
        for mode, tab in tabs.items():
            for dashboard in DASHBOARDS:
                for _ in range(primes[mode]):
                    ms, _html, _data = tab.load(dashboard)
                    firsts.setdefault(mode, ms)
        for _ in range(loads):
            for dashboard in DASHBOARDS:
                for mode, tab in tabs.items():
                    ms, html, data = tab.load(dashboard)
                    series[mode, dashboard].ms.append(ms)
                    series[mode, dashboard].html_ms.append(html)
                    series[mode, dashboard].data_ms.append(data)
        # The modes must be what they say: the app tier answers from its result cache only when warm.
        for mode, tab in tabs.items():
            hits = [tab.cached("sales", "top_products") for _ in range(4)]
            if mode == "cold" and any(hits):
                raise SystemExit("cold: the app tier answered from its result cache")
            if mode == "warm" and not all(hits):
                raise SystemExit(f"warm: the app tier missed its result cache: {hits}")
        return list(series.values()), firsts
    finally:
        for tab in tabs.values():
            tab.close()
        browser.close()
        pw.stop()


def table(runs: list[Series]) -> None:
    print("| dashboard | mode | loads | p50 ms | p95 ms | max ms | HTML p50 ms | data p50 ms | data p95 ms |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for s in runs:
        print(f"| {s.dashboard} | {s.mode} | {len(s.ms)} | {statistics.median(s.ms):.0f} | {s.pct(s.ms, 95):.0f} | "
              f"{max(s.ms):.0f} | {statistics.median(s.html_ms):.0f} | {statistics.median(s.data_ms):.0f} | "
              f"{s.pct(s.data_ms, 95):.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="demo data scale (1 = 100,000 orders)")
    parser.add_argument("--loads", type=int, default=20, help="measured loads per dashboard and mode")
    parser.add_argument("--var-dir", type=Path, default=None, help="keep (and reuse) the data set here")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--url", default=None,
                        help="measure a running stack's public URL as it is (its cache, its data); no cold run")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit("Chromium is missing: run scripts/ensure-debian-packages")

    runs: list[Series] = []
    firsts: dict[str, float] = {}
    load_before = os.getloadavg()[0]
    if args.url:
        step(f"measuring {args.url} as it is")
        runs, firsts = measure({"as is": args.url.rstrip("/")}, args.loads, {"as is": 1})
    else:
        var_dir = (args.var_dir or Path(tempfile.mkdtemp(prefix="lakefront-dash-bench-"))) / f"scale-{args.scale:g}"
        var_dir = var_dir.resolve()
        prepare(var_dir, args.scale, args.seed)
        # Two stacks at once over the same data (each with its own run directory): the result cache off, and on.
        # Unmeasured loads first: the browser caches the scripts, both app instances load the marts, and
        # (warm) the balancer spreads every visual's query over both instances' result caches.
        modes = {"cold": {"LAKEFRONT_ANALYTICS__CACHE_ENTRIES": "0"}, "warm": {}}
        stacks = {mode: Stack(var_dir, f"run-{mode}", **extra) for mode, extra in modes.items()}
        try:
            for mode, stack in stacks.items():
                step(f"scale {args.scale:g}: {mode} stack (lakefront up at {stack.url})")
                stack.start()
            runs, firsts = measure({mode: stack.url for mode, stack in stacks.items()}, args.loads,
                                   {"cold": 1, "warm": 3})
        finally:
            for stack in stacks.values():
                stack.stop()

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    if subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout.strip():
        commit += " + uncommitted changes"
    print(f"\n## Dashboards: navigation to every visual drawn, Chromium, scale {args.scale:g}")
    print(f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"Chromium {_chromium_version()}, commit {commit}, {time.strftime('%Y-%m-%d')}; "
          f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after (other work on the machine "
          f"skews the figures)\n")
    table(runs)
    print()
    for mode, ms in firsts.items():
        print(f"first load after `up` ({mode} stack; {DASHBOARDS[0]}; the marts read from the lake, the scripts "
              f"from the server): {ms:.0f} ms")
    print(f"\nreproduce: .venv/bin/python bench/dashboard_render_bench.py {shlex.join(sys.argv[1:])}")


def _chromium_version() -> str:
    try:
        out = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    found = re.search(r"\d+(\.\d+){2,3}", out)
    return found.group(0) if found else "?"


if __name__ == "__main__":
    main()
