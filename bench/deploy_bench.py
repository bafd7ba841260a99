"""Rolling deploys under load: how long does `lakefront deploy` take per policy, and does any request fail?

Starts `lakefront up` (embedded profile, 2 web and 2 app instances behind Caddy) in a temporary var dir on
free ports, then, for each policy in --policies, deploys a new version (a copy of the installed package
with one response header added, `--source DIR`) to both tiers while --clients threads read pages ("/"
and "/healthz") through the PUBLIC listener. A dropped connection is retried once, as a browser retries
a GET, and counted apart; a failed request is any answer other than 200 (after that retry).

Measured per policy: the deploy command's wall time (start to exit), requests, failed requests, dropped
connections, p50/p99 latency during the deploy, and which build the last answers came from.

    .venv/bin/python bench/deploy_bench.py --policies rolling,rolling-with-additional-batch,immutable
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
from _up import start_up, stop_up

import lakefront
from lakefront.servers.procs import free_port

HEADER = "x-lakefront-build"


def make_version(root: Path, build: str) -> Path:
    src = root / build
    shutil.copytree(Path(lakefront.__file__).parent, src / "lakefront", ignore=shutil.ignore_patterns("__pycache__"))
    headers = src / "lakefront/web/headers.py"
    headers.write_text(headers.read_text().replace('    "x-frame-options": "DENY",',
                                                   f'    "x-frame-options": "DENY",\n    "{HEADER}": "{build}",'))
    return src


class Load:
    def __init__(self, url: str, clients: int) -> None:
        self.url, self.stop = url, threading.Event()
        self.lock = threading.Lock()
        self.outcomes: Counter[str] = Counter()
        self.dropped = 0
        self.latencies: list[float] = []
        self.last_build = ""
        self.threads = [threading.Thread(target=self.run, args=(k,), daemon=True) for k in range(clients)]

    def run(self, k: int) -> None:
        paths = ("/", "/healthz")
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set():
                k += 1
                t0 = time.perf_counter()
                try:
                    try:
                        r = client.get(paths[k % 2])
                    except httpx.TransportError:
                        with self.lock:
                            self.dropped += 1
                        r = client.get(paths[k % 2])
                    outcome = str(r.status_code)
                except httpx.HTTPError as exc:
                    outcome, r = type(exc).__name__, None
                with self.lock:
                    self.outcomes[outcome] += 1
                    self.latencies.append((time.perf_counter() - t0) * 1000)
                    if r is not None:
                        self.last_build = r.headers.get(HEADER, "installed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policies", default="rolling,rolling-with-additional-batch,immutable")
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args()
    var_dir = Path(tempfile.mkdtemp(prefix="deploy-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEFRONT_")} | {
        "LAKEFRONT_VAR_DIR": str(var_dir), "LAKEFRONT_LB__PUBLIC_PORT": str(free_port()),
        "LAKEFRONT_LB__INTERNAL_PORT": str(free_port()), "LAKEFRONT_LB__ADMIN_PORT": str(free_port()),
        "LAKEFRONT_LB__HEALTH_INTERVAL_S": "0.5", "LAKEFRONT_DEMO__SCALE": "0.01",
        "LAKEFRONT_EXTRACT__INTERVAL_S": "0", "LAKEFRONT_CONFIG": str(var_dir / "none.toml")}
    url = f"http://127.0.0.1:{env['LAKEFRONT_LB__PUBLIC_PORT']}"
    print(f"# {' '.join(shlex.quote(a) for a in [sys.executable, *sys.argv])}")
    print(f"# {os.cpu_count()} cores, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}")
    up = start_up(var_dir, env, timeout_s=180)
    rows = []
    try:
        for n, policy in enumerate(args.policies.split(","), 1):
            source = make_version(var_dir / "sources", f"b{n}")
            load = Load(url, args.clients)
            for t in load.threads:
                t.start()
            t0 = time.monotonic()
            done = subprocess.run([sys.executable, "-m", "lakefront", "deploy", "--source", str(source),
                                   "--policy", policy, "--batch", str(args.batch)], env=env, capture_output=True,
                                  text=True, check=False)
            duration = time.monotonic() - t0
            load.stop.set()
            for t in load.threads:
                t.join()
            lat = sorted(load.latencies)
            failed = sum(v for k, v in load.outcomes.items() if k != "200")
            rows.append((policy, done.returncode, duration, sum(load.outcomes.values()), failed, load.dropped,
                         statistics.median(lat), lat[int(0.99 * (len(lat) - 1))], load.last_build))
            print(f"{policy}: exit {done.returncode}, {duration:.1f}s, {rows[-1][3]} requests, {failed} failed, "
                  f"{load.dropped} dropped connections", flush=True)
            if done.returncode != 0:
                print(done.stdout[-2000:], done.stderr[-2000:])
    finally:
        stop_up(up)
    print("\n| policy | exit | deploy s | requests | failed | dropped (retried) | p50 ms | p99 ms | last build |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.1f} | {r[3]} | {r[4]} | {r[5]} | {r[6]:.1f} | {r[7]:.1f} | {r[8]} |")


if __name__ == "__main__":
    main()
