"""Balancer node kill: failed requests, and how long until DNS answers without the dead node.

Starts `lakefront up` (embedded profile, DNS server on, failover policy, ttl 1 s, checks every 1 s) in a
temporary var dir on free ports. --clients threads each resolve the store's name through the DNS server
(dnspython, no cache: every request resolves again, the worst case for a cached TTL is ttl more) and GET /
from the address answered. After a few seconds lb-1 (the failover primary) is killed with SIGKILL. Measured:
requests failed (a client error, or not 200), kill -> DNS answering without lb-1 (if it does before lb-1
is back), kill -> lb-1 restarted by `up`, kill -> DNS answering lb-1 again.

    .venv/bin/python bench/edge_bench.py --clients 4 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import dns.resolver
import httpx
from _up import start_up, stop_up

from lakefront.servers.procs import free_port

NAME = "shop.lakefront.test"


def env_for(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEFRONT_")}
    return env | {
        "LAKEFRONT_VAR_DIR": str(var_dir), "LAKEFRONT_CONFIG": str(var_dir / "none.toml"),
        "LAKEFRONT_LB__PUBLIC_PORT": str(free_port()), "LAKEFRONT_LB__INTERNAL_PORT": str(free_port()),
        "LAKEFRONT_LB__ADMIN_PORT": str(free_port()), "LAKEFRONT_DNS__PORT": str(free_port()),
        "LAKEFRONT_DNS__ENABLED": "true", "LAKEFRONT_DNS__TTL_S": "1", "LAKEFRONT_DNS__CHECK_INTERVAL_S": "1",
        "LAKEFRONT_DEMO__SCALE": "0.02", "LAKEFRONT_EXTRACT__INTERVAL_S": "0",
    }


def run_once(clients: int, seconds_before: float, seconds_after: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="lakefront-edge-bench-") as tmp:
        var_dir = Path(tmp)
        env = env_for(var_dir)
        proc = start_up(var_dir, env, timeout_s=180)
        try:
            state = json.loads((var_dir / "run" / "state.json").read_text())
            dns_port = int(env["LAKEFRONT_DNS__PORT"])
            public_port = int(env["LAKEFRONT_LB__PUBLIC_PORT"])
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers, resolver.port, resolver.lifetime = ["127.0.0.1"], dns_port, 2.0

            def answer() -> list[str]:
                return sorted(r.address for r in resolver.resolve(NAME, "A"))

            deadline = time.monotonic() + 30
            while answer() != ["127.0.0.1"]:  # the first health checks have run
                assert time.monotonic() < deadline, "DNS never answered lb-1 alone"
                time.sleep(0.1)
            stop = threading.Event()
            counts = {"ok": 0, "failed": 0}
            lock = threading.Lock()

            def client() -> None:
                with httpx.Client(timeout=10) as http:
                    while not stop.is_set():
                        try:
                            address = answer()[0]
                            ok = http.get(f"http://{address}:{public_port}/").status_code == 200
                        except Exception:
                            ok = False
                        with lock:
                            counts["ok" if ok else "failed"] += 1

            threads = [threading.Thread(target=client) for _ in range(clients)]
            for t in threads:
                t.start()
            time.sleep(seconds_before)
            lb1 = state["balancers"][0]
            killed_at = time.monotonic()
            os.kill(int(lb1["pid"]), signal.SIGKILL)
            dropped = restarted = back = None
            while time.monotonic() - killed_at < seconds_after:
                now = time.monotonic() - killed_at
                current = answer()
                if dropped is None and "127.0.0.1" not in current:
                    dropped = now
                node = json.loads((var_dir / "run" / "state.json").read_text())["balancers"][0]
                if restarted is None and node["pid"] not in (None, lb1["pid"]) and node["running"]:
                    restarted = now
                if restarted is not None and back is None and current == ["127.0.0.1"] and now > restarted:
                    back = now
                time.sleep(0.05)
            stop.set()
            for t in threads:
                t.join()
            return {"requests": counts["ok"] + counts["failed"], "failed": counts["failed"],
                    "dns_dropped_s": dropped, "restarted_s": restarted, "dns_back_s": back}
        finally:
            stop_up(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--before", type=float, default=3.0, help="seconds of load before the kill")
    parser.add_argument("--after", type=float, default=8.0, help="seconds watched after the kill")
    args = parser.parse_args()
    results = []
    for run in range(1, args.runs + 1):
        print(f"run {run}/{args.runs}: starting lakefront up", file=sys.stderr, flush=True)
        results.append(run_once(args.clients, args.before, args.after))
        print(f"run {run}: {results[-1]}", flush=True)

    def median(key: str) -> str:
        values = [float(r[key]) for r in results if r[key] is not None]  # type: ignore[arg-type]
        return f"{statistics.median(values):.2f}s ({len(values)}/{len(results)} runs)" if values else "never"

    print(f"machine: {platform.node()} {os.cpu_count()} cores; command: {' '.join(sys.argv)}")
    print(f"failed requests per run: {[r['failed'] for r in results]} of {[r['requests'] for r in results]}")
    print(f"kill -> DNS without lb-1: {median('dns_dropped_s')}; kill -> lb-1 restarted: {median('restarted_s')}; "
          f"kill -> DNS answers lb-1 again: {median('dns_back_s')}")


if __name__ == "__main__":
    main()
