"""The Redis cache backend (the ElastiCache role in the services profile and on AWS)."""

from __future__ import annotations

from typing import Any

import redis

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


class RedisCache:
    """CacheBackend on Redis. Short socket timeouts: a slow cache must fail fast so the read falls back."""

    name = "redis"

    def __init__(self, url: str, timeout_s: float = 0.25) -> None:
        self.url = url
        self._client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                            retry_on_timeout=False, health_check_interval=0, max_connections=64)
        self._window_add = self._client.register_script(_WINDOW_ADD)

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
            self._client.delete(key)
        else:
            self._client.zrem(key, member)

    def ping(self) -> None:
        self._client.ping()

    def close(self) -> None:
        self._client.close()
