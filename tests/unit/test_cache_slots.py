"""Cluster key names: what must share a slot does, and the catalog's keys still spread over the cluster."""

from __future__ import annotations

from redis.crc import key_slot

from lakefront.data.cache_redis import cluster_nodes_of, slot_key
from lakefront.servers.redis_cluster import parse_cluster_nodes
from lakefront.shop import cachekeys


def _slot(key: str) -> int:
    return int(key_slot(slot_key(key).encode()))


def test_a_single_flight_lock_shares_its_keys_slot() -> None:
    for key in (cachekeys.product(42), cachekeys.home(7), cachekeys.listing(3, "tea", "popular", 2, 24)):
        assert slot_key(f"lock:{key}") != f"lock:{key}"
        assert _slot(f"lock:{key}") == _slot(key)


def test_a_scopes_generation_counter_and_written_mark_share_a_slot() -> None:
    assert slot_key(f"ns:{cachekeys.CATALOG}") == "ns:{catalog}"
    assert _slot(f"ns:{cachekeys.CATALOG}") == _slot(f"written:{cachekeys.CATALOG}")


def test_every_key_of_one_product_shares_a_slot_and_products_spread() -> None:
    assert slot_key("product:42") == "product:{42}"
    assert _slot("product:42") == _slot("product:42:v3")
    assert len({_slot(cachekeys.product(n)) for n in range(200)}) > 150


def test_the_catalogs_keys_are_not_all_in_their_counters_slot() -> None:
    slots = {_slot(cachekeys.listing(1, f"c{n}", "popular", 1, 24)) for n in range(100)}
    assert len(slots) > 50


def test_cluster_urls_list_every_startup_node() -> None:
    nodes = cluster_nodes_of("redis://127.0.0.1:7000,127.0.0.1:7001/0")
    assert [(n.host, n.port) for n in nodes] == [("127.0.0.1", 7000), ("127.0.0.1", 7001)]


def test_cluster_nodes_output_gives_roles_and_slot_counts() -> None:
    text = ("a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460 [5461->-b2]\n"
            "b2 127.0.0.1:7001@17001 master - 0 0 2 connected 5461-10922 16000\n"
            "c3 127.0.0.1:7002@17002 slave a1 0 0 1 connected\n"
            "d4 127.0.0.1:7003@17003 master,fail - 0 0 3 disconnected\n")
    nodes = parse_cluster_nodes(text)
    assert [(n.port, n.role, n.slots, n.primary_id) for n in nodes] == [
        (7000, "primary", 5461, None), (7001, "primary", 5463, None), (7002, "replica", 0, "a1"),
        (7003, "failed", 0, None)]

