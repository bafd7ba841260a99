"""What does killing a cache primary cost? A Redis Cluster (3 primaries + 3 replicas, node-timeout 2000 ms)
under cache-aside reads: failed reads, seconds until the replica is promoted, hit rate per second around it.

Runs a throwaway cluster on free loopback ports and --threads readers doing CacheAside.get_or_load (the adapter
every cached read of the app goes through, on the cluster client) over --keys keys; a miss "loads" in 1 ms,
standing in for the database. After --warm seconds it SIGKILLs the primary of the busiest slot range and keeps
reading until the hit rate is back to where it was (or --after seconds). The app tier's HTTP hop is not in it:
tests/integration/test_cache_cluster.py checks that no HTTP request fails.

    .venv/bin/python bench/cache_cluster_bench.py
    .venv/bin/python bench/cache_cluster_bench.py --threads 8 --keys 2000 --after 20
"""

from __future__ import annotations

import argparse
import platform
import random
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from lakefront.data.cache import CacheAside
from lakefront.data.cache_redis import RedisClusterCache
from lakefront.servers.procs import free_port_run
from lakefront.servers.redis_cluster import RedisCluster


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--warm", type=float, default=5.0)
    parser.add_argument("--after", type=float, default=15.0)
    parser.add_argument("--node-timeout-ms", type=int, default=2000)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="cache-cluster-bench-"))
    port = free_port_run(6 + 4)  # six nodes and their bus ports, plus room for added nodes
    cluster = RedisCluster(root, port, node_timeout_ms=args.node_timeout_ms)
    created = cluster.start_ready(root)
    print(f"cluster created in {created:.1f}s on ports {port}-{port + 5}")
    cache = CacheAside(RedisClusterCache(cluster.url))
    stop = threading.Event()
    failed = 0
    per_second: dict[int, list[int]] = {}
    start = time.monotonic()
    guard = threading.Lock()

    def reader(n: int) -> None:
        nonlocal failed
        rng = random.Random(n)
        while not stop.is_set():
            i = rng.randrange(args.keys)
            loaded: list[int] = []  # a hit is a read whose loader did not run (the counters are shared)

            def load(i: int = i, loaded: list[int] = loaded) -> dict[str, int]:
                loaded.append(1)
                time.sleep(0.001)
                return {"id": i}

            try:
                cache.get_or_load(f"product:{i}", 300, load)
            except Exception:
                with guard:
                    failed += 1
                continue
            second = int(time.monotonic() - start)
            with guard:
                bucket = per_second.setdefault(second, [0, 0])
                bucket[1 if loaded else 0] += 1

    for i in range(args.keys):  # every key cached before the clock starts: the baseline is 100 %
        cache.get_or_load(f"product:{i}", 300, lambda i=i: {"id": i})
    threads = [threading.Thread(target=reader, args=(n,), daemon=True) for n in range(args.threads)]
    for t in threads:
        t.start()
    time.sleep(args.warm)
    victim = next(n for n in cluster.view() if n.role == "primary")
    replica = next(n for n in cluster.view() if n.primary_id == victim.id)
    on_victim = victim.keys or 0  # only the product keys live in the cluster (locks are gone, no generations)
    killed_at = time.monotonic()
    cluster.node(victim.port).kill()
    promoted_s = None
    while time.monotonic() - killed_at < args.after:
        if promoted_s is None:
            try:
                view = {n.port: n for n in cluster.view()}
                if view[replica.port].role == "primary":
                    promoted_s = time.monotonic() - killed_at
            except Exception:  # the view may be unreadable for a moment
                pass
        time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join(timeout=5)
    kill_second = int(killed_at - start)
    print(f"machine: {platform.node()} {platform.machine()}, {subprocess.getoutput('nproc')} cores")
    print(f"killed primary {victim.port} at {kill_second}s; replica {replica.port} promoted after "
          f"{promoted_s:.1f}s" if promoted_s is not None else "replica not promoted in time")
    print(f"keys on the killed primary: {on_victim} of {args.keys} ({on_victim / args.keys:.0%})")
    print(f"failed reads: {failed}; cache fallbacks: {cache.counters.fallbacks}")
    print("second  reads  hit rate")
    for second in sorted(per_second):
        hits, misses = per_second[second]
        mark = "  <- kill" if second == kill_second else ""
        print(f"{second - kill_second:+6d}  {hits + misses:5d}  {hits / max(1, hits + misses):6.0%}{mark}")
    cache.backend.close()
    cluster.stop(timeout=5)


if __name__ == "__main__":
    main()
