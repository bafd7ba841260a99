"""The Redis cache backend (the ElastiCache role in the services profile and on AWS)."""

from __future__ import annotations

from typing import Any

import redis


class RedisCache:
    """CacheBackend on Redis. Short socket timeouts: a slow cache must fail fast so the read falls back."""

    name = "redis"

    def __init__(self, url: str, timeout_s: float = 0.25) -> None:
        self.url = url
        self._client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                            retry_on_timeout=False, health_check_interval=0, max_connections=64)

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

    def ping(self) -> None:
        self._client.ping()

    def close(self) -> None:
        self._client.close()
