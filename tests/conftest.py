"""Fixtures shared by every suite. Server fixtures start nothing until a test asks for them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.servers import MariaDBHandle, RedisHandle, throwaway_mariadb, throwaway_redis


@pytest.fixture(scope="session")
def mariadb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDBHandle]:
    """One throwaway MariaDB for the session; take a database of your own with `.fresh_url()`."""
    with throwaway_mariadb(tmp_path_factory.mktemp("mariadb")) as handle:
        yield handle


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisHandle]:
    """One throwaway Redis for the session; flush it or use distinct keys if your test needs it empty."""
    with throwaway_redis(tmp_path_factory.mktemp("redis")) as handle:
        yield handle
