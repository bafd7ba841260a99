"""The app tier on a real Redis Cluster (3 primaries + 3 replicas): cache-aside reads and invalidation through
the cluster client, hash-tagged keys together, live resharding and a killed primary under browsing."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest
import redis
from redis.cluster import RedisCluster as ClusterClient

from lakefront.data.cache import CacheAside
from lakefront.data.cache_redis import RedisClusterCache, cluster_nodes_of, slot_key
from lakefront.servers.redis_cluster import RedisCluster
from support import Api, AppStack, app_stack, run_cli
from support.servers import MariaDBHandle, throwaway_redis_cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    with throwaway_redis_cluster(tmp_path_factory.mktemp("cache-cluster")) as made:  # ours alone: we reshard, kill
        yield made


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, mariadb_server: MariaDBHandle,
          cluster: RedisCluster) -> Iterator[tuple[AppStack, Api, int]]:
    env = {"LAKEFRONT_PROFILE": "services", "LAKEFRONT_DB__WRITER_URL": mariadb_server.fresh_url(),
           "LAKEFRONT_CACHE__REDIS_URL": cluster.url, "LAKEFRONT_CACHE__MODE": "cluster",
           "LAKEFRONT_OBJECTS__BACKEND": "directory"}
    with app_stack(tmp_path_factory.mktemp("cluster-app"), count=2, profile_env=env) as app:
        category = app.db.add_category()
        Api(app.instances[0].url).sign_up("ops@example.com")
        app.db.make_admin("ops@example.com")
        admin = Api(app.instances[0].url).sign_in("ops@example.com")
        r = admin.request("POST", "/api/admin/products", json={
            "sku": "C-1", "name": "Clustered teapot", "category_id": category, "price_cents": 999, "stock": 5})
        assert r.status_code == 201
        yield app, admin, int(r.json()["id"])


def _client(cluster: RedisCluster) -> ClusterClient:
    return ClusterClient(startup_nodes=cluster_nodes_of(cluster.url))


def _hits(app: AppStack) -> float:
    return app.total("lakefront_cache_hits_total")


class Browsing:
    """Shoppers reading product pages and listings from every app instance until stopped, counting failures."""

    def __init__(self, app: AppStack, product_id: int) -> None:
        self.paths = [f"/api/products/{product_id}", "/api/products?category=tea"]
        self.urls = [i.url for i in app.instances]
        self.ok = 0
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=10.0) as client:
            n = 0
            while not self._stop.is_set():
                url = self.urls[n % len(self.urls)] + self.paths[n % len(self.paths)]
                n += 1
                try:
                    r = client.get(url)
                    if r.status_code == 200:
                        self.ok += 1
                    else:
                        self.failed.append(f"{url}: {r.status_code}")
                except httpx.HTTPError as exc:
                    self.failed.append(f"{url}: {type(exc).__name__}")

    def __enter__(self) -> Browsing:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def wait_for(self, requests: int, timeout: float = 30.0) -> None:
        target = self.ok + requests
        deadline = time.monotonic() + timeout
        while self.ok < target:
            assert time.monotonic() < deadline, f"browsing stalled at {self.ok} requests"
            time.sleep(0.05)


def test_reads_fill_the_cluster_and_a_write_invalidates_them(stack, cluster: RedisCluster) -> None:
    app, admin, product_id = stack
    api = Api(app.instances[1].url)
    assert api.request("GET", f"/api/products/{product_id}").json()["name"] == "Clustered teapot"
    before = _hits(app)
    assert api.request("GET", f"/api/products/{product_id}").status_code == 200
    assert _hits(app) > before
    with _client(cluster) as client:
        assert client.exists(f"product:{{{product_id}}}") == 1  # stored under its hash-tagged name
        generation = int(client.get("ns:{catalog}") or 0)
    r = admin.request("PATCH", f"/api/admin/products/{product_id}", json={"name": "Renamed teapot"})
    assert r.status_code == 200, r.text
    # Invalidated on the cluster by instance 1, so instance 2 reads the new name at once.
    assert api.request("GET", f"/api/products/{product_id}").json()["name"] == "Renamed teapot"
    with _client(cluster) as client:
        assert int(client.get("ns:{catalog}") or 0) > generation


def test_keys_that_belong_together_share_a_slot_on_the_servers(cluster: RedisCluster) -> None:
    with redis.Redis(host=cluster.host, port=cluster.port) as node:
        def slot(key: str) -> int:
            return int(node.execute_command("CLUSTER KEYSLOT", slot_key(key)))

        assert slot("lock:product:7") == slot("product:7") == slot("product:7:v2")
        assert slot("ns:catalog") == slot("written:catalog")
        assert slot("lock:catalog:3:home") == slot("catalog:3:home")
        assert len({slot(f"product:{n}") for n in range(50)}) > 40  # products still spread over the primaries


def test_adding_and_removing_a_node_under_browsing_fails_no_request(stack, cluster: RedisCluster) -> None:
    app, _, product_id = stack
    with Browsing(app, product_id) as browsing:
        browsing.wait_for(50)
        added = cluster.add_node()
        browsing.wait_for(50)
        view = {n.port: n for n in cluster.view()}
        assert view[added[0]].role == "primary" and view[added[0]].slots > 3000
        assert view[added[1]].role == "replica" and view[added[1]].primary_id == view[added[0]].id
        removed = cluster.remove_node(added[0])
        browsing.wait_for(50)
    assert sorted(removed) == sorted(added)
    view = {n.port: n for n in cluster.view()}
    assert not set(added) & set(view) and sum(n.slots for n in view.values()) == 16384
    assert browsing.failed == [], browsing.failed[:5]
    assert browsing.ok > 150


def test_a_killed_primary_is_replaced_by_its_replica_and_browsing_never_fails(stack, cluster: RedisCluster) -> None:
    app, _, product_id = stack
    with redis.Redis(host=cluster.host, port=cluster.port) as node:
        product_slot = int(node.execute_command("CLUSTER KEYSLOT", f"product:{{{product_id}}}"))
    view = cluster.view()
    owner = _owner_of(cluster, product_slot)
    victim = next(n for n in view if n.port == owner)
    replica = next(n for n in view if n.primary_id == victim.id)
    with Browsing(app, product_id) as browsing:
        browsing.wait_for(30)
        cluster.node(victim.port).kill()
        deadline = time.monotonic() + 30
        while _owner_of(cluster, product_slot) != replica.port:
            assert time.monotonic() < deadline, "the replica never took over"
            time.sleep(0.1)
        before = _hits(app)
        browsing.wait_for(50)
        deadline = time.monotonic() + 20
        while _hits(app) == before:  # hits resume on the promoted replica
            assert time.monotonic() < deadline, "cache hits never resumed after the failover"
            time.sleep(0.1)
    assert browsing.failed == [], browsing.failed[:5]
    cluster.restart()  # as the control plane does: the old primary rejoins, as the new primary's replica
    cluster.wait_healthy()
    deadline = time.monotonic() + 20
    while (rejoined := next(n for n in cluster.view() if n.port == victim.port)).role == "failed":
        assert time.monotonic() < deadline, "the old primary is still marked failed"  # the flag clears by gossip
        time.sleep(0.1)
    assert rejoined.role == "replica" and rejoined.primary_id == replica.id


def test_a_dead_primary_costs_the_hits_of_its_own_keys_only(tmp_path: Path) -> None:
    # Until the dead primary's replica is promoted, the keys on the other primaries are still read from
    # the cache: the breaker is per node, the other nodes keep serving their slots once the dead one is
    # marked failed (cluster-require-full-coverage no), and a key owed an invalidation holds back only
    # itself. The owed key is never served stale, before or after the replica takes over.
    with throwaway_redis_cluster(tmp_path) as own:  # ours alone: a node is killed
        backend = RedisClusterCache(own.url)
        cache = CacheAside(backend)
        loads: Counter[str] = Counter()
        version: Counter[str] = Counter()

        def load(key: str) -> dict[str, object]:
            loads[key] += 1
            return {"key": key, "v": version[key]}

        def read(key: str) -> dict[str, object]:
            return cache.get_or_load(key, 300, partial(load, key))

        keys = [f"product:{i}" for i in range(60)]
        for key in keys:
            read(key)
        owner = {key: backend.shard(key) for key in keys}
        assert len(set(owner.values())) == 3, owner  # the keys are spread over the three primaries
        owed = keys[0]
        dead = owner[owed]
        dead_port = int(dead.rpartition(":")[2])
        replica = next(n.port for n in own.view() if n.primary_id == next(
            m.id for m in own.view() if m.port == dead_port))
        slot = int(redis.Redis(host=own.host, port=replica).execute_command("CLUSTER KEYSLOT", slot_key(owed)))
        own.node(dead_port).kill()
        loads.clear()
        version[owed] += 1  # the database changed: the cached copy (also on the replica) is now stale
        cache.invalidate([owed], [])
        assert cache.pending == 1  # the dead node could not be told
        deadline = time.monotonic() + 30
        while _owner_of(own, slot) != replica:
            assert time.monotonic() < deadline, "the replica never took over"
            for key in keys:
                assert read(key)["v"] == version[key], key
        assert {key for key in loads if owner[key] != dead} == set(), "keys on live primaries were loaded"
        assert loads[owed] > 0 and any(owner[key] == dead and key != owed for key in loads), \
            "the kill did not land: no key of the dead node was loaded"
        deadline = time.monotonic() + 10
        while cache.pending:  # told once the promoted replica answers
            assert read(owed)["v"] == 1
            assert time.monotonic() < deadline, "the owed invalidation was never replayed"
            time.sleep(0.05)
        assert read(owed)["v"] == 1 and read(owed)["v"] == 1  # the replica's stale copy was retired
        cache.close()
        backend.close()


def _owner_of(cluster: RedisCluster, slot: int) -> int | None:
    """The port of the primary serving `slot`, as a surviving node sees it."""
    for node in cluster.nodes:
        if not node.running:
            continue
        try:
            with redis.Redis(host=cluster.host, port=node.port, socket_timeout=1) as client:
                client.response_callbacks.pop("CLUSTER SLOTS", None)
                for entry in client.execute_command("CLUSTER SLOTS"):
                    if int(entry[0]) <= slot <= int(entry[1]):
                        return int(entry[2][1])
        except redis.RedisError:
            continue
    return None



def test_cache_add_node_without_a_running_system_is_one_line(tmp_path: Path) -> None:
    done = run_cli(tmp_path / "var", "cache", "add-node")
    assert done.returncode == 2
    assert done.stderr.strip() == "lakefront: lakefront is not running; start it with `lakefront up --profile services`"
