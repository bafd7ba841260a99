"""Auto Scaling under a load step: `lakefront up` (embedded) with one web instance and target tracking on,
then the load doubles. Prints the seconds from the step until the group has scaled out and the new
instance serves (registered in Caddy: it then gets requests at once, least_conn), and p99 latency
through the public listener before the step, during the scale-out and after it.

    .venv/bin/python bench/autoscale_bench.py [--clients 2] [--target 3] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _up import start_up, stop_up

from lakefront.servers.procs import free_port


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


class Load:
    def __init__(self, url: str) -> None:
        self.url, self.stopping = url, threading.Event()
        self.samples: list[tuple[float, float]] = []
        self.failed = 0
        self.dropped = 0
        """Connections a balancer reload closed under a request, retried once (as a browser does)."""
        self.threads: list[threading.Thread] = []

    def add_clients(self, n: int) -> None:
        for _ in range(n):
            t = threading.Thread(target=self._run, daemon=True)
            t.start()
            self.threads.append(t)

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self.stopping.is_set():
                start = time.monotonic()
                try:
                    try:
                        ok = client.get(self.url).status_code == 200
                    except httpx.TransportError:
                        self.dropped += 1
                        ok = client.get(self.url).status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    self.samples.append((start, (time.monotonic() - start) * 1000))
                else:
                    self.failed += 1

    def p99(self, since: float, until: float) -> float:
        return percentile([ms for t, ms in self.samples if since <= t < until], 0.99)

    def stop(self) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=30)


def one_run(args: argparse.Namespace, var_dir: Path) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEFRONT_")} | {
        "LAKEFRONT_VAR_DIR": str(var_dir), "LAKEFRONT_CONFIG": str(var_dir / "none.toml"),
        "LAKEFRONT_LB__PUBLIC_PORT": str(free_port()), "LAKEFRONT_LB__INTERNAL_PORT": str(free_port()),
        "LAKEFRONT_LB__ADMIN_PORT": str(free_port()), "LAKEFRONT_DEMO__SCALE": "0.02",
        "LAKEFRONT_EXTRACT__INTERVAL_S": "0",
        "LAKEFRONT_WEB__INSTANCES": "1", "LAKEFRONT_WEB__SCALING__MAX_INSTANCES": "3",
        "LAKEFRONT_WEB__SCALING__TARGET_IN_FLIGHT": str(args.target),
        "LAKEFRONT_WEB__SCALING__SCALE_OUT_COOLDOWN_S": "15", "LAKEFRONT_WEB__SCALING__WARMUP_S": "5",
        "LAKEFRONT_APP__INSTANCES": "2", "LAKEFRONT_APP__SCALING__MAX_INSTANCES": "2",
    }
    proc = start_up(var_dir, env, timeout_s=180)
    state_file = var_dir / "run" / "state.json"
    load = Load(f"http://127.0.0.1:{env['LAKEFRONT_LB__PUBLIC_PORT']}/")
    try:
        load.add_clients(args.clients)
        time.sleep(args.seconds)  # the "before" phase: a fixed stretch of load is what is measured here
        group = json.loads(state_file.read_text())["groups"]["web"]
        if group["size"] != 1:
            raise SystemExit(f"the group scaled out before the step ({group['activities'][-1]['cause']}): "
                             "lower --clients or raise --target")
        step = time.monotonic()
        load.add_clients(args.clients)  # 2x
        print(f"  load step at +{args.seconds:.0f}s: {args.clients} -> {2 * args.clients} clients", flush=True)
        scaled = None
        while time.monotonic() - step < 120:
            group = json.loads(state_file.read_text())["groups"]["web"]
            if group["size"] > 1:
                scaled = time.monotonic()
                print(f"  scaled out: {group['activities'][-1]['cause']}", flush=True)
                break
            time.sleep(0.1)
        if scaled is None:
            raise SystemExit("no scale-out within 120 s of the step")
        time.sleep(args.seconds)
        end = time.monotonic()
    finally:
        load.stop()
        stop_up(proc)
    return {"serving_s": scaled - step, "p99_before": load.p99(step - args.seconds, step),
            "p99_during": load.p99(step, scaled), "p99_after": load.p99(scaled, end), "failed": load.failed,
            "dropped": load.dropped}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=2, help="Clients before the step (doubled at the step).")
    parser.add_argument("--target", type=float, default=3.0,
                        help="web.scaling.target_in_flight: between --clients and twice that.")
    parser.add_argument("--seconds", type=float, default=10.0, help="Seconds of load before the step and after.")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results = []
    for n in range(args.runs):
        print(f"run {n + 1}/{args.runs}", flush=True)
        with tempfile.TemporaryDirectory(prefix="lakefront-autoscale-") as tmp:
            results.append(one_run(args, Path(tmp)))
    print("| run | step -> new instance serving s | p99 before ms | p99 during ms | p99 after ms | failed | "
          "dropped, retried |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n, r in enumerate(results, 1):
        print(f"| {n} | {r['serving_s']:.1f} | {r['p99_before']:.0f} | {r['p99_during']:.0f} | "
              f"{r['p99_after']:.0f} | {r['failed']:.0f} | {r['dropped']:.0f} |")
    median = sorted(r["serving_s"] for r in results)[len(results) // 2]
    print(f"median step -> serving: {median:.1f} s")
    print("reproduce: .venv/bin/python bench/autoscale_bench.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
