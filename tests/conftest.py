"""Fixtures shared by every suite. Server fixtures start nothing until a test asks for them."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from lakefront.data.objects import AREAS
from lakefront.data.objects.s3 import S3Store
from lakefront.servers.redis_cluster import RedisCluster
from lakefront.servers.seaweedfs import SeaweedFSServer
from lakefront.servers.spark import SparkCluster
from support.s3 import REGION, seaweedfs
from support.servers import (
    MariaDBHandle,
    RedisHandle,
    flush_cluster,
    throwaway_mariadb,
    throwaway_redis,
    throwaway_redis_cluster,
)

_buckets = itertools.count(1)


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


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """One throwaway Redis Cluster (3 primaries + 3 replicas) for the session: the services profile's cache.
    Tests that kill or reshard nodes take a cluster of their own."""
    # A node timeout of 10 s: on a loaded CI machine a 2 s one let a node miss its pings and fail over
    # in the middle of other tests. The kill tests' own clusters keep 2 s.
    with throwaway_redis_cluster(tmp_path_factory.mktemp("redis-cluster"), node_timeout_ms=10000) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def seaweedfs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFSServer]:
    """One throwaway SeaweedFS S3 for the session; `profile_env` gives each module buckets of its own."""
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkCluster]:
    """One Spark standalone cluster (a master and two workers) for the session, on free loopback ports."""
    from support import free_port_block

    cluster = SparkCluster(tmp_path_factory.mktemp("spark"), free_port_block(6), workers=2)
    cluster.start_ready()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module", params=["embedded", "services"])
def profile_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """Environment for processes of one profile. The same test cases run against both.

    embedded: nothing to set (SQLite, embedded cache, directory under the test's var dir).
    services: a fresh database on the session's MariaDB, the session's Redis Cluster (flushed; cache.mode
    cluster, as `up --profile services` runs it) and fresh buckets (images, lake, backups) on the
    session's SeaweedFS.
    """
    if request.param == "embedded":
        return {}
    mariadb: MariaDBHandle = request.getfixturevalue("mariadb_server")
    cluster: RedisCluster = request.getfixturevalue("redis_cluster")
    s3: SeaweedFSServer = request.getfixturevalue("seaweedfs_server")
    flush_cluster(cluster)  # a previous module's cached rows belong to another database
    # The name prefix of the module's buckets (<prefix>-images, -lake, -backups): at most 55 characters, and
    # ending in a letter or digit as bucket names must.
    bucket = f"t{next(_buckets)}-{request.module.__name__.rsplit('.', 1)[-1].replace('_', '-')}"[:48].rstrip("-")
    for area in AREAS:
        with S3Store(s3.endpoint_url, f"{bucket}-{area}", REGION, s3.access_key, s3.secret_key) as store:
            store.ensure_bucket()
    return {
        "LAKEFRONT_PROFILE": "services",
        "LAKEFRONT_DB__WRITER_URL": mariadb.fresh_url(),
        "LAKEFRONT_CACHE__REDIS_URL": cluster.url,
        "LAKEFRONT_CACHE__MODE": "cluster",
        "LAKEFRONT_OBJECTS__S3_ENDPOINT": s3.endpoint_url,
        "LAKEFRONT_OBJECTS__BUCKET": bucket,
        "LAKEFRONT_OBJECTS__ACCESS_KEY": s3.access_key,
        "LAKEFRONT_OBJECTS__SECRET_KEY": s3.secret_key,
    }
