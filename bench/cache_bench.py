"""Does the cache earn its place? The same pages through the public load balancer, cache on and off.

Starts the whole system twice on one data set (`lakefront up`, cache on, then cache off), drives
product pages, category listings and search results through the public listener at a fixed
concurrency, and prints requests/s, p50/p99 latency and database statements per request, then
the same reads straight at one app instance (no balancer, no web tier) to show what the cache
itself saves.

    .venv/bin/python bench/cache_bench.py --profile services --scale 0.2 --seconds 15
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from lakefront.servers.procs import free_port, free_port_run
from lakefront.servers.seaweedfs import pick_s3_port

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    mode: str
    target: str
    workload: str
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)
    queries: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")

    def row(self) -> dict[str, Any]:
        return {"mode": self.mode, "target": self.target, "workload": self.workload, "requests": self.requests,
                "errors": self.errors, "rps": round(self.rps, 1), "p50_ms": round(self.pct(50), 2),
                "p99_ms": round(self.pct(99), 2), "db_statements_per_request": round(self.queries, 2)}


class Stack:
    def __init__(self, var_dir: Path, profile: str, cache: str, scale: float, ports: dict[str, int]) -> None:
        self.var_dir = var_dir
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEFRONT_")} | {
            "LAKEFRONT_VAR_DIR": str(var_dir), "LAKEFRONT_PROFILE": profile, "LAKEFRONT_CACHE__BACKEND": cache,
            "LAKEFRONT_DEMO__SCALE": str(scale), "LAKEFRONT_LOG_LEVEL": "warning",
            "LAKEFRONT_CONFIG": str(var_dir / "none.toml"),
            **{f"LAKEFRONT_{k}": str(v) for k, v in ports.items()},
        }
        self.public = f"http://127.0.0.1:{ports['LB__PUBLIC_PORT']}"
        self.proc: subprocess.Popen[bytes] | None = None

    def up(self) -> None:
        out = open(self.var_dir / "up.out", "ab")  # noqa: SIM115  (the child writes to it until down)
        self.proc = subprocess.Popen([sys.executable, "-m", "lakefront", "up"], env=self.env, stdout=out,
                                     stderr=subprocess.STDOUT, cwd=self.var_dir)
        deadline = time.monotonic() + 900
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"lakefront up failed; see {self.var_dir / 'up.out'}")
            try:
                if httpx.get(f"{self.public}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("lakefront up not ready in 15 minutes")
            time.sleep(0.5)

    def state(self) -> dict[str, Any]:
        return json.loads((self.var_dir / "run" / "state.json").read_text())  # type: ignore[no-any-return]

    def app_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{i['port']}" for i in self.state()["instances"] if i["tier"] == "app"]

    def statements(self) -> float:
        total = 0.0
        for url in self.app_urls():
            for line in httpx.get(f"{url}/metrics", timeout=5).text.splitlines():
                if line.startswith("lakefront_db_queries_total{"):
                    total += float(line.rsplit(" ", 1)[1])
        return total

    def down(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)


async def drive(base: str, paths: list[str], concurrency: int, seconds: float) -> tuple[int, int, list[float]]:
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds
    rng = random.Random(7)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < stop_at:
                path = rng.choice(paths)
                start = time.perf_counter()
                try:
                    response = await client.get(path)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append((time.perf_counter() - start) * 1000)
                errors += not ok

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(latencies), errors, latencies


def workloads(stack: Stack) -> dict[str, dict[str, list[str]]]:
    """Paths per workload, for the public site (web tier) and for the app tier's API."""
    app = stack.app_urls()[0]
    categories = httpx.get(f"{app}/api/categories", timeout=30).json()
    products = httpx.get(f"{app}/api/products?sort=popular&per_page=100", timeout=30).json()["items"]
    # Popular products are asked for more often, as in a real store (the demo data's own skew).
    ids = [p["id"] for p in products for _ in range(max(1, 20 - products.index(p) // 5))]
    words = sorted({w.lower() for p in products for w in p["name"].split() if len(w) > 3})[:40]
    return {
        "product page": {"web": [f"/p/{i}" for i in ids], "app": [f"/api/products/{i}" for i in ids]},
        "category listing": {"web": [f"/c/{c['slug']}?page={n}" for c in categories for n in (1, 2)],
                             "app": [f"/api/products?category={c['slug']}&page={n}" for c in categories
                                     for n in (1, 2)]},
        "search": {"web": [f"/search?q={w}" for w in words], "app": [f"/api/products?q={w}" for w in words]},
    }


def measure(stack: Stack, mode: str, args: argparse.Namespace) -> list[Result]:
    results = []
    paths = workloads(stack)
    targets = {"web": stack.public, "app": stack.app_urls()[0]}
    for workload, by_target in paths.items():
        for target, base in targets.items():
            asyncio.run(drive(base, by_target[target], args.concurrency, args.warmup))
            before = stack.statements()
            n, errors, latencies = asyncio.run(drive(base, by_target[target], args.concurrency, args.seconds))
            queries = (stack.statements() - before) / max(1, n)
            result = Result(mode, "public LB -> web -> app" if target == "web" else "one app instance",
                            workload, n, errors, args.seconds, latencies, queries)
            results.append(result)
            print(json.dumps(result.row()), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="services", choices=["services", "embedded"])
    parser.add_argument("--scale", type=float, default=0.2, help="demo data scale (1 = 1,000 products)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--var-dir", type=Path, default=None, help="reuse a data set between runs")
    args = parser.parse_args()

    var_dir = args.var_dir or Path(tempfile.mkdtemp(prefix="lakefront-bench-"))
    var_dir.mkdir(parents=True, exist_ok=True)
    ports = {"LB__PUBLIC_PORT": free_port(), "LB__INTERNAL_PORT": free_port(), "LB__ADMIN_PORT": free_port(),
             "DB__PORT": free_port(), "NLB__PORT": free_port(), "CACHE__PORT": free_port_run(10),
             "OBJECTS__S3_PORT": pick_s3_port()}
    on = "redis" if args.profile == "services" else "embedded"
    results: list[Result] = []
    for mode, backend in (("cache on", on), ("cache off", "off")):
        stack = Stack(var_dir, args.profile, backend, args.scale, ports)
        print(f"# {mode}: starting lakefront up --profile {args.profile} (cache backend {backend})", flush=True)
        stack.up()
        try:
            results += measure(stack, mode, args)
        finally:
            stack.down()

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    print(f"\n## Cache on vs off, profile {args.profile}, scale {args.scale}, concurrency {args.concurrency}, "
          f"{args.seconds:.0f} s per cell")
    print(f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, commit {commit}, "
          f"{time.strftime('%Y-%m-%d')}\n")
    print("| path | workload | cache | req/s | p50 ms | p99 ms | DB statements/req | errors |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for r in sorted(results, key=lambda r: (r.target, r.workload, r.mode)):
        print(f"| {r.target} | {r.workload} | {r.mode.split()[1]} | {r.rps:.0f} | {r.pct(50):.1f} | "
              f"{r.pct(99):.1f} | {r.queries:.2f} | {r.errors} |")
    print()
    for target in ("public LB -> web -> app", "one app instance"):
        for workload in ("product page", "category listing", "search"):
            pair = {r.mode: r for r in results if r.target == target and r.workload == workload}
            if len(pair) == 2:
                speedup = pair["cache off"].pct(50) / pair["cache on"].pct(50)
                print(f"- {target}, {workload}: cached p50 {speedup:.1f}x faster, "
                      f"{pair['cache on'].rps / pair['cache off'].rps:.1f}x the throughput")
    print(f"\nreproduce: .venv/bin/python bench/cache_bench.py --profile {args.profile} --scale {args.scale} "
          f"--concurrency {args.concurrency} --seconds {args.seconds:.0f}")


if __name__ == "__main__":
    main()
