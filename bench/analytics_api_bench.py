"""How fast do dashboards answer? The analytics API per dataset: cold and warm, p50 and p95.

Seeds the demo data (embedded profile: SQLite, directory lake) at --scale into a var dir, or reuses one already
seeded there, extracts and processes it once (DuckDB), then builds an app instance in this process (create_app,
the same composition root `lakefront serve app` uses, with its lifespan) and calls it through Starlette's test
client as the demo admin, so routing, authentication, the query service and JSON encoding are all measured;
the network hop to the instance is not.

Per dataset, with the filters it takes (the last 30 days of data; the best-selling category):
  cold   the first request after the instance's cached results were dropped (as after a pipeline commit: the
         marts stay loaded), --repeat times;
  warm   the same request again, answered from the result cache, --repeat times; and the same through the
         query service alone (no HTTP, auth or JSON), in microseconds.
Also: the first request of a fresh instance (it loads every mart from the lake), --repeat times.

    .venv/bin/python bench/analytics_api_bench.py --scale 1
    .venv/bin/python bench/analytics_api_bench.py --scale 10 --var-dir /tmp/lakefront-analytics-bench
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from _seed import seed_once

UNTIL = date(2026, 10, 31)  # fixed, so a scale always gives the same data


def step(message: str) -> None:
    print(f"# {message}", flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def prepare(var_dir: Path, scale: float, seed_value: int) -> Any:
    from lakefront.analytics import pipeline
    from lakefront.settings import Settings

    settings = Settings(var_dir=var_dir)
    seed_once(settings, scale=scale, seed=seed_value, until=UNTIL, step=step)
    began = time.perf_counter()
    extracted = pipeline.extract(settings)
    step(f"extracted {sum(r.rows for r in extracted):,} rows in {time.perf_counter() - began:.1f} s")
    began = time.perf_counter()
    results = pipeline.process(settings, engine="duckdb")
    marts = {r.name: r.rows for r in results if r.kind == "mart"}
    step(f"processed in {time.perf_counter() - began:.1f} s: " + ", ".join(f"{m} {n:,}" for m, n in marts.items()))
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=10, help="demo data scale (1 = 100,000 orders)")
    parser.add_argument("--var-dir", type=Path, default=None, help="keep (and reuse) the data set here")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=20, help="requests per dataset and case")
    args = parser.parse_args()

    base = args.var_dir or Path(tempfile.mkdtemp(prefix="lakefront-analytics-bench-"))
    var_dir = base / f"scale-{args.scale:g}"
    settings = prepare(var_dir, args.scale, args.seed)

    import warnings

    # Starlette suggests httpx2 for its test client; httpx is what the project ships, and it works.
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from starlette.testclient import TestClient

    from lakefront.analytics.serving import parse_filters
    from lakefront.api.app import create_app
    from lakefront.demo.customers import ADMIN_EMAIL, ADMIN_PASSWORD

    app = create_app(settings)
    with TestClient(app) as client:
        token = client.post("/api/auth/signin", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        service = app.state.services.analytics.service
        catalog = app.state.services.analytics.catalog

        def get(path: str, params: dict[str, str]) -> tuple[float, dict[str, Any]]:
            began = time.perf_counter()
            r = client.get(path, params=params, headers=headers)
            elapsed = (time.perf_counter() - began) * 1000
            assert r.status_code == 200, r.text
            return elapsed, r.json()

        board = get("/api/analytics/dashboards/sales", {})[1]
        last = date.fromisoformat(board["date_bounds"]["max"])
        dates = {"from": (last - timedelta(days=29)).isoformat(), "to": last.isoformat()}
        top = get("/api/analytics/datasets/revenue_by_category", dates)[1]["rows"][0]["category_slug"]

        starts = []
        for _ in range(args.repeat):
            service.clear()
            starts.append(get("/api/analytics/datasets/daily_sales", dates)[0])

        table = []
        for name, dataset in catalog.datasets.items():
            params = dict(dates) if "date" in dataset.filters else {}
            if "category" in dataset.filters:
                params["category"] = top
            path = f"/api/analytics/datasets/{name}"
            cold, warm, rows = [], [], 0
            for _ in range(args.repeat):
                service.clear(results_only=True)
                elapsed, body = get(path, params)
                assert body["cached"] is False
                cold.append(elapsed)
                rows = len(body["rows"])
            for _ in range(args.repeat):
                elapsed, body = get(path, params)
                assert body["cached"] is True
                warm.append(elapsed)
            # The query service alone, warm: what the API adds on top is routing, auth and JSON.
            filters = parse_filters(params.get("from"), params.get("to"), params.get("category"))
            inner = []
            for _ in range(args.repeat):
                began = time.perf_counter()
                assert service.query(dataset, filters).cached
                inner.append((time.perf_counter() - began) * 1_000_000)
            table.append((name, ",".join(sorted(params)) or "-", rows, cold, warm, inner))

    print()
    print(f"analytics API, scale {args.scale:g}, {args.repeat} requests per case; {platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {date.today()}")
    print(f"first request of a fresh instance (loads every mart): p50 {statistics.median(starts):.1f} ms, "
          f"p95 {percentile(starts, 0.95):.1f} ms")
    print()
    print(f"| {'dataset':<20} | {'filters':<17} | {'rows':>5} | {'cold p50 ms':>11} | {'cold p95 ms':>11} "
          f"| {'warm p50 ms':>11} | {'warm p95 ms':>11} | {'service warm p50 us':>19} |")
    print(f"|{'-' * 22}|{'-' * 19}|{'-' * 7}|{'-' * 13}|{'-' * 13}|{'-' * 13}|{'-' * 13}|{'-' * 21}|")
    for name, filters, rows, cold, warm, inner in table:
        print(f"| {name:<20} | {filters:<17} | {rows:>5} | {statistics.median(cold):>11.2f} "
              f"| {percentile(cold, 0.95):>11.2f} | {statistics.median(warm):>11.2f} "
              f"| {percentile(warm, 0.95):>11.2f} | {statistics.median(inner):>19.1f} |")
    print()
    command = " ".join([".venv/bin/python", "bench/analytics_api_bench.py", *sys.argv[1:]])
    print(f"reproduce: {command}")


if __name__ == "__main__":
    main()
