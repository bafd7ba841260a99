"""The Redis cache backends (the ElastiCache role in the services profile and on AWS): one node, or a
Redis Cluster through redis-py's cluster client.

On a cluster each key lives in one of 16384 slots, spread over the primaries; a Lua script or a
multi-key transaction may only touch keys of one slot. `slot_key` gives the keys that belong together
one hash tag (the part in braces is all that is hashed), so they share a slot and a node:

- a single-flight lock `lock:K` sits with K itself (`lock:{K}` hashes as K does): the lock and the value
  it guards fail over together, and a future "set value, drop lock" can be one atomic step;
- a scope's generation counter `ns:N` and its written-mark `written:N` are `ns:{N}` / `written:{N}`;
- every key of one product `product:ID[:...]` is `product:{ID}[:...]`, so a product's value and any
  per-product version kept beside it can be compared and set by one script.

The generation's own keys (`catalog:<gen>:...`) are NOT tagged with the counter: that would put the
whole catalog on one primary. Throttle windows are not tagged either: each window is one key, and its
script names only that key, which a cluster accepts whatever slot it is in.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot
from redis.retry import Retry

# The sliding window (data/windows.py) as one script, so it runs atomically on the server. Scores are
# expiry times on the server's clock (TIME), so app instances with skewed clocks still agree.
_WINDOW_ADD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[1], math.ceil(tonumber(last[2]) * 1000))
  return '0'
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tostring(tonumber(first[2]) - now)
"""


def _tag(key: str) -> str:
    if "{" in key:
        return key  # tagged already
    prefix, sep, rest = key.partition(":")
    if not sep:
        return key
    if prefix in ("ns", "written"):
        return f"{prefix}:{{{rest}}}"
    if prefix == "product":
        entity, more, tail = rest.partition(":")
        return f"product:{{{entity}}}{more}{tail}"
    return key


def slot_key(key: str) -> str:
    """The name `key` has on a cluster: hash-tagged so that what belongs together shares a slot."""
    if key.startswith("lock:"):
        guarded = _tag(key[len("lock:"):])
        return "lock:" + (guarded if "{" in guarded else "{" + guarded + "}")
    return _tag(key)


def cluster_nodes_of(url: str) -> list[ClusterNode]:
    """Startup nodes from redis://h1:p1,h2:p2/0 (any one of them that answers leads to the others)."""
    netloc = urlsplit(url).netloc.rpartition("@")[2]
    nodes = []
    for part in netloc.split(","):
        host, _, port = part.rpartition(":")
        nodes.append(ClusterNode(host or "127.0.0.1", int(port or 6379)))  # type: ignore[no-untyped-call]
    return nodes


class RedisCache:
    """CacheBackend on one Redis node. Short socket timeouts: a slow cache must fail fast so the read falls
    back. Window ops (sign-in throttling) have a client of their own with a longer timeout: a window op that
    times out is counted in this instance instead, which under load would let the tier-wide limit leak."""

    name = "redis"

    def __init__(self, url: str, timeout_s: float = 0.25, window_timeout_s: float = 2.0) -> None:
        self.url = url
        self._client = self._connect(timeout_s, 64)
        self._windows = self._connect(window_timeout_s, 16)
        self._window_add = self._windows.register_script(_WINDOW_ADD)

    def _connect(self, timeout_s: float, connections: int) -> Any:
        return redis.Redis.from_url(self.url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                    retry_on_timeout=False, health_check_interval=0, max_connections=connections)

    def get(self, key: str) -> bytes | None:
        value: Any = self._client.get(key)
        return None if value is None else bytes(value)

    def set(self, key: str, value: bytes, ttl_s: float) -> None:
        self._client.set(key, value, px=max(1, int(ttl_s * 1000)))

    def delete(self, *keys: str) -> None:
        if keys:
            self._client.delete(*keys)

    def incr(self, key: str) -> int:
        return int(self._client.incr(key))

    def add(self, key: str, value: bytes, ttl_s: float) -> bool:
        return bool(self._client.set(key, value, px=max(1, int(ttl_s * 1000)), nx=True))

    def window_add(self, key: str, member: str, window_s: float, limit: int) -> float:
        return float(self._window_add(keys=[key], args=[member, window_s, limit]))

    def window_remove(self, key: str, member: str | None = None) -> None:
        if member is None:
            self._windows.delete(key)
        else:
            self._windows.zrem(key, member)

    def ping(self) -> None:
        self._client.ping()

    def shard(self, key: str) -> str:
        return ""  # one server

    def close(self) -> None:
        self._client.close()
        self._windows.close()


class _Lazy:
    """A cluster client made on first use, and made again after a failed attempt: RedisCluster() asks a
    node for the slot map at once, and an app instance must start (and serve from the database) while
    the cache is down."""

    def __init__(self, make: Any) -> None:
        self._make = make
        self._client: Any = None
        self._guard = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        client = self._client
        if client is None:
            with self._guard:
                if self._client is None:
                    self._client = self._make()
                client = self._client
        return getattr(client, name)

    @property
    def made(self) -> Any:
        """The client, or None while none could be made yet."""
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


class RedisClusterCache(RedisCache):
    """CacheBackend on a Redis Cluster (ElastiCache cluster mode). Keys go through slot_key; the client
    follows MOVED/ASK redirects while slots move, and re-reads the slot map after a node fails."""

    def __init__(self, url: str, timeout_s: float = 0.25, window_timeout_s: float = 2.0) -> None:
        self.url = url
        self._client = self._connect(timeout_s, 64)
        self._windows = self._connect(window_timeout_s, 16)

    def _connect(self, timeout_s: float, connections: int) -> Any:
        def make() -> RedisCluster:
            # One retry, not redis-py's ten: each retry after a connection error re-reads the slot map
            # from the nodes, which names the dead primary until its replica is promoted, so more retries
            # only cost time; CacheAside's per-node breaker, not the client, covers the gap.
            return RedisCluster(startup_nodes=cluster_nodes_of(self.url), socket_timeout=timeout_s,
                                socket_connect_timeout=timeout_s, max_connections=connections,
                                require_full_coverage=False, retry=Retry(NoBackoff(), 1))

        return _Lazy(make)

    def get(self, key: str) -> bytes | None:
        return super().get(slot_key(key))

    def set(self, key: str, value: bytes, ttl_s: float) -> None:
        super().set(slot_key(key), value, ttl_s)

    def delete(self, *keys: str) -> None:
        super().delete(*(slot_key(k) for k in keys))

    def incr(self, key: str) -> int:
        return super().incr(slot_key(key))

    def add(self, key: str, value: bytes, ttl_s: float) -> bool:
        return super().add(slot_key(key), value, ttl_s)

    def window_add(self, key: str, member: str, window_s: float, limit: int) -> float:
        # EVAL, not EVALSHA: a node added by resharding has no scripts loaded; the script is 0.5 kB.
        return float(self._windows.eval(_WINDOW_ADD, 1, slot_key(key), member, window_s, limit))

    def window_remove(self, key: str, member: str | None = None) -> None:
        super().window_remove(slot_key(key), member)

    def ping(self) -> None:
        self._client.ping(target_nodes=RedisCluster.PRIMARIES)

    def shard(self, key: str) -> str:
        """The primary that holds `key`'s slot in the client's slot map ("" before it has one)."""
        client = self._client.made
        if client is None:
            return ""
        owners = client.nodes_manager.slots_cache.get(key_slot(slot_key(key).encode()))
        return str(owners[0].name) if owners else ""


def make_redis(url: str, mode: str, timeout_s: float = 0.25, window_timeout_s: float = 2.0) -> RedisCache:
    """The Redis backend for cache.mode (single or cluster)."""
    if mode == "cluster":
        return RedisClusterCache(url, timeout_s, window_timeout_s)
    return RedisCache(url, timeout_s, window_timeout_s)
