"""Every setting Lakefront reads, in one validated model.

Sources, highest priority first: explicit overrides (CLI flags), the environment
(``LAKEFRONT_*``, nested with ``__`` as in ``LAKEFRONT_DB__WRITER_URL``), then an optional
``lakefront.toml`` in the working directory (or the file named by ``LAKEFRONT_CONFIG``).
Child processes started by the control plane receive the parent's resolved settings as JSON
in ``LAKEFRONT_SETTINGS_JSON`` so every instance runs with exactly the same values.

No other module reads ``os.environ`` for configuration.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

SETTINGS_JSON_ENV = "LAKEFRONT_SETTINGS_JSON"
CONFIG_FILE_ENV = "LAKEFRONT_CONFIG"


class SettingsError(Exception):
    """A setting is invalid; the message is one line naming it."""


class Profile(StrEnum):
    embedded = "embedded"
    services = "services"
    aws = "aws"
    """On AWS, deployed by `lakefront aws deploy`: endpoints come from the environment the CDK app gives each
    instance, passwords and tokens from Secrets Manager (aws.* below); nothing is started locally."""


class Section(BaseModel):
    """A nested group of settings; a misspelt key is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class LoadBalancerSettings(Section):
    host: str = "127.0.0.1"
    """Address every instance binds to, and the first balancer node's. Loopback only by default: the public
    listener is the ALB role."""
    extra_hosts: list[str] = Field(default_factory=lambda: ["127.0.0.2"], max_length=7)
    """Addresses of the other balancer nodes, one Caddy each, as an ALB has a node per availability zone.
    Every node serves both listeners on the same ports (and its admin API on admin_port), on its own
    address: any loopback address works on Linux. Killing one loses only the requests in flight on it;
    `up` restarts it and applies the config again. Empty: one node, a single point of failure."""
    public_port: int = Field(8080, ge=1, le=65535)
    """Public listener (the Application Load Balancer role), in front of the web instances."""
    internal_port: int = Field(8081, ge=1, le=65535)
    """Internal listener (the internal ALB role), in front of the app instances."""
    admin_port: int = Field(2019, ge=1, le=65535)
    """Caddy's admin API, through which the control plane registers instances."""
    try_duration_s: float = Field(2.0, gt=0, le=30)
    """How long the balancer keeps retrying other upstreams when one cannot be reached."""
    health_interval_s: float = Field(1.0, gt=0, le=60)
    """Active health check interval against each instance's /healthz."""
    fail_duration_s: float = Field(3.0, gt=0, le=60)
    """Passive health: how long an upstream stays out after a failed request."""
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    """Networks of the system's own proxies (the listeners and the web instances). Only their
    X-Forwarded-For is believed: the internal listener passes the chain on, and the app tier takes the
    client's address (which sign-in throttling counts by) from it. Anyone else's header is ignored and
    the connecting address is the client's, so a shopper cannot pick an address. On AWS: the VPC's CIDR."""

    @field_validator("extra_hosts")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        try:
            return [str(ipaddress.ip_address(item)) for item in value]
        except ValueError as exc:
            raise ValueError(f"must be IP addresses such as 127.0.0.2: {exc}") from None

    @property
    def nodes(self) -> list[str]:
        """Every balancer node's address, the first one `host`; duplicates dropped."""
        return list(dict.fromkeys([self.host, *self.extra_hosts]))

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        try:
            return [str(ipaddress.ip_network(item, strict=False)) for item in value]
        except ValueError as exc:
            raise ValueError(f"must be IP networks such as 10.0.0.0/16: {exc}") from None


class ScalingSettings(Section):
    """Auto Scaling of one instance group (control/autoscale.py): target tracking on requests in flight."""

    min_instances: int | None = Field(None, ge=1, le=16)
    """Fewest instances the group scales in to. Default: the tier's `instances` (never below the size it starts at)."""
    max_instances: int = Field(4, ge=1, le=16)
    """Most instances the group scales out to (raised to `instances` when that is larger)."""
    metric: Literal["in_flight", "cpu"] = "in_flight"
    """What target tracking follows: in_flight, requests in flight per instance (Caddy's count for each
    upstream); cpu, each instance process's CPU use in percent of one core (from /proc), as an ASG's
    ASGAverageCPUUtilization. Either is averaged over `metric_window_s`."""
    target_in_flight: float = Field(4.0, ge=0, le=1000)
    """Target tracking (metric in_flight): requests in flight per instance the group aims at. 0 turns the
    policy off: the size changes only by `lakefront scale`."""
    target_cpu_percent: float = Field(70.0, ge=0, le=100)
    """Target tracking (metric cpu): CPU per instance, percent of one core, the group aims at. 0 turns the
    policy off."""
    metric_window_s: float = Field(3.0, gt=0, le=300)
    """The metric is the mean of the samples (one per supervision tick, 0.25 s) over this window."""
    scale_out_cooldown_s: float = Field(15.0, ge=0, le=3600)
    """After a scaling activity, no further scale-out for this long."""
    scale_in_cooldown_s: float = Field(60.0, ge=0, le=3600)
    """After a scaling activity, no scale-in for this long (scale-in goes one instance at a time)."""
    warmup_s: float = Field(10.0, ge=0, le=3600)
    """A new instance's first seconds in service: it is not counted in the metric, and the group does not
    scale in while one is warming (the AWS default warm-up is 300 s)."""
    deregistration_delay_s: float = Field(10.0, ge=0, le=600)
    """Scale-in: the instance leaves the balancer first, then keeps running this long so requests in flight
    finish (the target group's deregistration delay); then SIGTERM, on which the server finishes any left."""
    restart_backoff_s: float = Field(1.0, gt=0, le=60)
    """An instance that exits before being in service for `stable_s` counts as crashing: its next start
    waits this long, doubling per crash in a row (a crash loop is never retried hot)."""
    restart_backoff_max_s: float = Field(30.0, gt=0, le=3600)
    """Cap of the crash-loop backoff."""
    stable_s: float = Field(10.0, gt=0, le=3600)
    """In service this long, an instance's exit is not a crash in a row: it is replaced at once."""

class DnsSettings(Section):
    enabled: bool | None = None
    """Run the DNS server (the Route 53 role: PowerDNS from Debian's pdns-server). Default: in the
    services profile, not in embedded (which needs nothing installed)."""
    name: str = "shop.lakefront.test"
    """The store's name; the server is authoritative for its zone (everything after the first label)."""
    port: int = Field(5353, ge=1, le=65535)
    """UDP and TCP port of the DNS server, on lb.host."""
    ttl_s: int = Field(5, ge=1, le=3600)
    """TTL of the answer: a resolver that caches it sees a dead node's address at most this much longer."""
    check_interval_s: int = Field(1, ge=1, le=60)
    """How often the DNS server checks each balancer node's /healthz (Route 53's health check interval)."""
    policy: Literal["failover", "weighted"] = "failover"
    """failover: the first healthy node in lb order (primary, then secondaries). weighted: one healthy
    node at random, by `weights`."""
    weights: list[int] = Field(default_factory=list)
    """Weighted policy: one weight per balancer node in lb order; default equal."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip(".").lower()
        if value.count(".") < 1 or not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", value):
            raise ValueError("must be a DNS name with a zone, such as shop.lakefront.test")
        return value


class NlbSettings(Section):
    enabled: bool | None = None
    """Run the Network Load Balancer role (HAProxy from Debian's haproxy): one TCP endpoint for the database
    writer that follows failover, as an RDS cluster's writer endpoint does. Default: in the services profile
    when `up` runs the MariaDB nodes itself (not with db.writer_url, which is an endpoint already, and not
    in embedded, which has one SQLite file)."""
    port: int = Field(3310, ge=1, le=65535)
    """TCP port of the writer endpoint, on lb.host: `mariadb -h 127.0.0.1 -P 3310` reaches the primary."""
    check_interval_ms: int = Field(500, ge=100, le=60000)
    """How often HAProxy checks each node's MariaDB greeting; a writer failing two checks in a row is marked
    DOWN and its sessions cut (which node is the writer is still the failover monitor's decision)."""
    idle_timeout_s: int = Field(350, ge=1, le=86400)
    """A connection idle this long in both directions is closed (350 s, as an AWS NLB's TCP idle timeout)."""


class TierSettings(Section):
    instances: int = Field(2, ge=1, le=16)
    """Number of instances of this tier at start (the Auto Scaling group's initial desired capacity)."""
    scaling: ScalingSettings = ScalingSettings()
    """Auto Scaling of this tier's group: min/max, target tracking, cooldowns, warm-up, draining, backoff."""

    @model_validator(mode="after")
    def _bounds(self) -> TierSettings:
        low = self.scaling.min_instances
        if low is not None and low > self.instances:
            raise ValueError(f"scaling.min_instances ({low}) is more than instances ({self.instances})")
        return self

    @property
    def min_instances(self) -> int:
        return self.scaling.min_instances or self.instances

    @property
    def max_instances(self) -> int:
        return max(self.scaling.max_instances, self.instances)
    workers_threads: int = Field(16, ge=1, le=256)
    """Worker threads for blocking work (database calls) in each app instance."""
    page_view_flush_s: float = Field(0.5, gt=0, le=60)
    """Web tier: page views wait in each instance this long at most, then go to the app tier in one
    batch (web/pageviews.py); an instance that is killed loses at most this much of them."""
    server: Literal["uvicorn", "granian"] = "uvicorn"
    """ASGI server of each instance: uvicorn (uvloop + httptools) or granian (HTTP in Rust, embedded: one
    process). uvicorn by default: granian was no faster once the web tier's own costs were cut
    (bench/RESULTS.md), and it drops a kept-alive connection after a 413 answered before the body was
    read, which tests/integration/test_hostile_inputs.py refuses; granian is there to compare."""


class AppTierSettings(TierSettings):
    max_json_body_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024)
    """Largest request body an app instance reads (413 beyond it), whether Content-Length declares it or
    it comes in chunks. The largest JSON the API takes (a product with a 10,000-character description,
    40 KB in 4-byte UTF-8) fits the 64 KiB default. The image upload takes media.max_upload_bytes plus
    multipart overhead instead."""


class DatabaseSettings(Section):
    writer_url: str | None = None
    """SQLAlchemy URL of the primary (writes, and reads that lead to writes), e.g. an RDS endpoint.
    Default: SQLite under var/ (embedded), or the MariaDB server `lakefront up` runs (services)."""
    reader_url: str | None = None
    """SQLAlchemy URL for reads that may go to a standby. Default: the writer."""
    pool_size: int = Field(8, ge=1, le=200)
    """Connections kept open per instance and engine (plus as many again in overflow)."""
    busy_timeout_ms: int = Field(15000, ge=0)
    """SQLite only: how long a writer waits for the write lock before giving up."""
    port: int = Field(3307, ge=1, le=65535)
    """services profile: port of the MariaDB server `lakefront up` runs under var/ (3306 is left alone)."""
    name: str = Field("lakefront", pattern=r"^[A-Za-z0-9_]{1,64}$")
    """services profile: database name on the managed server."""
    user: str = Field("lakefront", pattern=r"^[A-Za-z0-9_]{1,32}$")
    """services profile: application user on the managed server."""
    password: SecretStr = SecretStr("lakefront")
    """services profile: that user's password (the server listens on loopback only)."""
    standby: bool = True
    """services profile: run a standby beside the primary (the Multi-AZ role): semi-synchronous GTID
    replication, read offload and automatic failover. false: a single primary."""
    standby_port: int | None = Field(None, ge=1, le=65535)
    """services profile: port of the second MariaDB node. Default: db.port + 1."""
    standby_loss: Literal["continue", "wait"] = "continue"
    """What a commit does while the standby is down or behind. continue (default): wait
    db.semi_sync_timeout_ms for its acknowledgement, then go on without it (asynchronous) until it
    catches up; the monitor then refuses to promote a standby that was not in sync, so no
    acknowledged commit is lost unless the primary is lost for good while the standby is away.
    wait: never acknowledge a commit the standby has not got; orders stop while the standby is down."""
    semi_sync_timeout_ms: int = Field(1000, ge=10, le=3_600_000)
    """continue mode: how long a commit waits for the standby's acknowledgement before going on without it."""
    max_replica_lag_ms: int = Field(1000, ge=0, le=3_600_000)
    """Catalog reads go to the standby while its replication lag (a heartbeat the failover monitor
    writes on the primary) is under this bound, else to the primary. 0: every read to the primary."""
    probe_interval_s: float = Field(0.25, gt=0, le=10)
    """Failover monitor: how often it writes a heartbeat through the primary."""
    probe_failures: int = Field(3, ge=1, le=100)
    """Failover monitor: consecutive failed probes that declare the primary dead."""
    catch_up_timeout_s: float = Field(30.0, gt=0, le=3600)
    """Failover monitor: how long a role change waits for the standby to apply what it has (a failover:
    its relay log; a planned switchover: every GTID of the fenced primary). A failover whose standby does
    not apply its relay log in time is refused (the old primary restarted in place: promoting would lose
    acknowledged commits); a switchover is abandoned and the old primary made writable again."""
    failover_wait_s: float = Field(5.0, ge=0, le=120)
    """An app instance that cannot reach the primary waits this long for the monitor to publish a
    new one before answering 503 with Retry-After. Keep it under the web tier's 10 s timeout."""

    @field_validator("writer_url", "reader_url")
    @classmethod
    def _url_has_scheme(cls, value: str | None) -> str | None:
        if value is not None and "://" not in value:
            raise ValueError("must be a SQLAlchemy URL such as sqlite:///path or mysql+pymysql://user@host/db")
        return value


class CacheSettings(Section):
    backend: Literal["embedded", "redis", "off"] | None = None
    """embedded: a cache shared by every instance on this machine (SQLite file under var/); redis: Redis
    (ElastiCache); off: no cache. Default: embedded in the embedded profile, redis in services."""
    redis_url: str | None = None
    """Redis URL, e.g. an ElastiCache endpoint. Default (services): the Redis server `lakefront up` runs."""
    port: int = Field(6380, ge=1, le=65535)
    """services profile: port of the Redis server `lakefront up` runs (6379 is left alone)."""
    timeout_s: float = Field(0.25, gt=0, le=10)
    """Longest wait for one cache operation before the read falls back to the database."""
    window_timeout_s: float = Field(2.0, gt=0, le=30)
    """Longest wait for one throttle-window operation (sign-in and sign-up limits). Longer than
    cache.timeout_s: a cached read that times out costs a database read, but a window op that times out
    is counted in the instance instead (failing open), so under load the tier-wide limit would leak."""
    mode: Literal["single", "cluster"] | None = None
    """single: one Redis node (or an ElastiCache primary endpoint); cluster: a Redis Cluster (ElastiCache
    cluster mode), reached with the cluster client, keys spread over the primaries' slots. Default:
    cluster when `up` runs the cache (services profile, no cache.redis_url: cache.cluster_primaries primaries
    with cache.cluster_replicas replicas each on ports cache.port, cache.port+1, ...), single otherwise
    (a given cache.redis_url in cluster mode needs cache.mode=cluster)."""
    cluster_primaries: int = Field(3, ge=3, le=16)
    """services profile, cluster mode: primaries `up` creates (Redis Cluster needs at least 3)."""
    cluster_replicas: int = Field(1, ge=0, le=2)
    """services profile, cluster mode: replicas per primary; a replica takes over when its primary dies."""
    cluster_node_timeout_ms: int = Field(2000, ge=100, le=60_000)
    """services profile, cluster mode: a primary unreachable this long is failed over to its replica."""

    @model_validator(mode="after")
    def _cluster_ports_fit(self) -> CacheSettings:
        # Each cluster node also listens on its port + 10000 (the cluster bus); `add-node` takes the next ports.
        if self.mode != "single" and self.redis_url is None:
            last = self.port + self.cluster_primaries * (1 + self.cluster_replicas) - 1
            if last + 10000 > 65535:
                raise ValueError(f"cache.port {self.port}: a cluster on ports {self.port}..{last} needs bus ports to "
                                 f"{last + 10000}, past 65535; choose a cache.port of at most "
                                 f"{65535 - 10000 - (last - self.port)}")
        return self


class AuthSettings(Section):
    """Sign-in throttling and bearer-token lifetimes (OWASP ASVS 5.0 level 2, chapters 6 and 7)."""

    signin_account_limit: int = Field(5, ge=1, le=1000)
    """Failed sign-ins allowed per account (its email) within auth.signin_window_s. Past it every attempt,
    even with the right password, answers 429 with Retry-After until the oldest failure leaves the window.
    5 in 15 minutes (20 an hour) stays far below ASVS's bound of 100 an hour per account."""
    signin_address_limit: int = Field(50, ge=1, le=100_000)
    """Failed sign-ins allowed per client address within auth.signin_window_s, whatever the accounts
    (password spraying). Higher than the account limit: many shoppers may share one address (NAT)."""
    signin_window_s: float = Field(900, gt=0, le=86_400)
    """Length of the sliding window of failed sign-ins, for the account and the address limits."""
    signup_address_limit: int = Field(20, ge=1, le=100_000)
    """Sign-ups allowed per client address within auth.signup_window_s (each may probe whether an email
    is registered, and each costs a password hash)."""
    signup_window_s: float = Field(3600, gt=0, le=86_400)
    """Length of the sliding window of sign-ups per address."""
    token_idle_s: int = Field(12 * 3600, ge=60, le=30 * 86_400)
    """A bearer token unused this long stops working (inactivity timeout, ASVS 7.3.1). 12 hours: a
    shopper's day, while a token left on a shared machine dies overnight."""
    token_absolute_s: int = Field(7 * 86_400, ge=60, le=90 * 86_400)
    """A bearer token stops working this long after sign-in however much it is used (absolute
    lifetime, ASVS 7.3.2): a stolen token is worth a week at most, then the password is asked again."""
    token_renew_after_s: int = Field(900, ge=0, le=86_400)
    """Use of a token pushes its idle expiry forward only when its last renewal is older than this,
    so a busy shopper costs one database write per interval, not one per request. An idle timeout
    then runs between token_idle_s - token_renew_after_s and token_idle_s."""

    @model_validator(mode="after")
    def _lifetimes_nest(self) -> AuthSettings:
        if not self.token_renew_after_s < self.token_idle_s <= self.token_absolute_s:
            raise ValueError("token lifetimes must nest: token_renew_after_s < token_idle_s <= token_absolute_s")
        return self


_BUCKET_NAME = r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$"
"""An S3 bucket name: 3-63 characters, lowercase letters, digits, dots and hyphens, alphanumeric at both ends."""
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")


class ObjectStoreSettings(Section):
    backend: Literal["directory", "s3"] | None = None
    """directory: a local directory under var/; s3: an S3 API (SeaweedFS locally, S3 on AWS).
    Default: directory in the embedded profile, s3 in services."""
    root: Path | None = None
    """Directory of the directory store. Default: var/objects."""
    s3_endpoint: str | None = None
    """S3 endpoint URL. Default (services): the SeaweedFS server `lakefront up` runs. On AWS: unset + region."""
    s3_port: int = Field(8333, ge=1, le=65535)
    """services profile: S3 port of the SeaweedFS server `lakefront up` runs (its other ports follow it)."""
    bucket: str = Field("lakefront", pattern=_BUCKET_NAME)
    """Name prefix of the store's buckets: product images, the lake and backups each live in a bucket of their
    own (as in the AWS design), by default `<bucket>-images`, `<bucket>-lake` and `<bucket>-backups`, so at most
    55 characters. Every bucket is private: nothing in any of them is publicly readable."""
    images_bucket: str | None = Field(None, pattern=_BUCKET_NAME)
    """Bucket of product images (uploads and demo images), the only objects the tiers serve to anyone.
    Default: `<bucket>-images`."""
    lake_bucket: str | None = Field(None, pattern=_BUCKET_NAME)
    """Bucket of the lake (its Iceberg tables: raw extracts and marts), read only by the analytics pipeline and
    the query service. Default: `<bucket>-lake`."""
    backups_bucket: str | None = Field(None, pattern=_BUCKET_NAME)
    """Bucket reserved for database backups. Default: `<bucket>-backups`."""
    region: str = "us-east-1"
    """S3 region (signature v4)."""
    access_key: str = "lakefront"
    """S3 access key. The managed SeaweedFS server is configured with it. Empty: the environment's
    credentials (an instance role on AWS)."""
    secret_key: SecretStr = SecretStr("lakefront-secret")
    """S3 secret key."""
    presign_ttl_s: int = Field(300, ge=1, le=86400)
    """Lifetime of presigned URLs."""

    @property
    def buckets(self) -> dict[str, str]:
        """The bucket of each area (images, lake, backups): the one set, or the prefix's default."""
        given = {"images": self.images_bucket, "lake": self.lake_bucket, "backups": self.backups_bucket}
        return {area: name or f"{self.bucket}-{area}" for area, name in given.items()}

    @field_validator("bucket", "images_bucket", "lake_bucket", "backups_bucket")
    @classmethod
    def _s3_bucket_name(cls, name: str | None, info: ValidationInfo) -> str | None:
        # The pattern checks length and characters; S3 refuses these shapes as well.
        if name is None:
            return None
        if ".." in name or re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name) or name.startswith(_RESERVED_PREFIXES):
            raise ValueError("not a valid S3 bucket name (no '..', no IP address, no xn--/sthree- prefix)")
        if info.field_name == "bucket" and len(name) > 63 - len("-backups"):
            raise ValueError("at most 55 characters: the bucket names derived from it (<bucket>-backups) "
                             "must stay within S3's 63")
        return name

    @model_validator(mode="after")
    def _buckets_apart(self) -> ObjectStoreSettings:
        if len(set(self.buckets.values())) < len(self.buckets):
            raise ValueError(f"images_bucket, lake_bucket and backups_bucket must differ, got {self.buckets}")
        return self


class MediaSettings(Section):
    max_upload_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    """Largest accepted image upload."""
    max_pixels: int = Field(40_000_000, ge=10_000)
    """Largest accepted image, in pixels (guards against decompression bombs)."""
    image_size: int = Field(800, ge=64, le=4096)
    """Longest side of the stored product image after re-encoding."""
    thumb_size: int = Field(320, ge=32, le=1024)
    """Longest side of the thumbnail."""


class SessionSettings(Section):
    max_age_s: int = Field(7 * 24 * 3600, ge=60, le=30 * 24 * 3600)
    """Longest a web sign-in lasts, in seconds from signing in (the encrypted session cookie's lifetime).
    At most auth.token_absolute_s (checked at start-up): a session cannot outlive its token. When the app
    tier refuses the token sooner (idle, revoked), the web tier ends the session then."""


class DemoSettings(Section):
    scale: float = Field(1.0, gt=0, le=100)
    """Scale of the demo data loaded by `lakefront up` on first run (1 = 1,000 products, 100,000 orders)."""
    seed: int = 42
    """Random seed of the demo data: the same seed gives the same data."""
    load_on_first_run: bool = True
    """Whether `lakefront up` loads demo data into an empty database."""


class LakeSettings(Section):
    """The lake: Apache Iceberg tables in the lake bucket, named by a catalog (analytics/lake/)."""

    prefix: str = Field("lake", pattern=r"^[a-z0-9][a-z0-9_\-/]*[a-z0-9]$")
    """Key prefix of the lake in its bucket; the tables live under <prefix>/raw/ and <prefix>/marts/. Also the
    name of the lake in a SQL catalog, so lakes under different prefixes can share one catalog database."""
    catalog: Literal["sql", "glue"] | None = None
    """The Iceberg catalog, which holds each table's current metadata file and commits by compare-and-swap:
    sql (SQLite or MariaDB/MySQL through SQLAlchemy) or glue (the AWS Glue Data Catalog). Default: glue in
    the aws profile, sql otherwise."""
    catalog_url: str | None = None
    """SQLAlchemy URL of the sql catalog's database. Default: var/lake/catalog.sqlite3 in the embedded profile,
    the shop's writer database in services (so the catalog rides the standby and its failover)."""
    namespace: str = Field("lakefront", pattern=r"^[a-z][a-z0-9_]{0,254}$")
    """The catalog namespace of the lake's tables (the Glue database on AWS): raw_<table> and mart_<model>."""
    retention_s: float = Field(5 * 86400, ge=0)
    """`lakefront lake maintain` expires snapshots older than this (the current one always stays) and deletes
    files under the lake's prefix that no live snapshot names and that are older than this: orphans of killed
    runs, files of expired snapshots, an earlier layout's files. It must exceed the longest run, whose files
    are not committed yet while it runs."""
    maintain_interval_s: int = Field(86400, ge=0)
    """How often `lakefront up` runs `lakefront lake maintain`; 0 turns the schedule off."""


class ExtractSettings(Section):
    tables: list[str] | None = None
    """Tables `lakefront extract` copies into the lake when none are named. Default: every extractable table
    (the extract stage's list, analytics/extract/tables.py)."""
    interval_s: int = Field(300, ge=0)
    """How often `lakefront up` runs the pipeline (extract, then process); 0 turns the schedule off."""
    batch_rows: int = Field(50_000, ge=10, le=1_000_000)
    """Rows per record batch: bounds the extractor's memory whatever the table's size."""
    reader: Literal["connectorx", "sqlalchemy"] = "connectorx"
    """How rows are read: ConnectorX streams Arrow batches (fast, no Python objects per row); sqlalchemy
    streams rows through the database driver (slower; for databases ConnectorX cannot read)."""
    file_rows: int = Field(1_000_000, ge=10)
    """A run rolls to a new data file after this many rows (each file is one object-store put)."""
    safety_lag_s: float = Field(2.0, ge=0, le=3600)
    """Rows whose updated_at is younger than this are left for the next run: a transaction still open
    when the run reads could otherwise commit a row behind the watermark."""
    standby_timeout_s: float = Field(5.0, gt=0, le=600)
    """Connect and read timeout of the extract's connections to the standby (its heartbeat check, and reads
    through SQLAlchemy). A frozen standby (SIGSTOP, a hung host) accepts connections and then answers nothing:
    past this the extract counts it unreachable instead of waiting for good."""
    primary_fallback: bool = True
    """When the standby is unreachable, frozen or too far behind (before or during a run), read the primary
    instead, in one log line. Off: such a run fails in one line and commits nothing for the tables it could not
    read, so the extract never adds load to the primary."""


class ProcessSettings(Section):
    engine: Literal["duckdb", "spark"] | None = None
    """Engine that runs the models: DuckDB (embedded) or Spark (the EMR role; local[*] here).
    Default: duckdb in the embedded profile, spark in services."""
    spark_master: str | None = None
    """Spark master URL for `--engine spark`: local[N], or spark://host:port of a standalone cluster (on EMR,
    spark-submit sets it). Default: the cluster `up` runs when process.spark_cluster is on, else local[*]."""
    spark_driver_memory: str = Field("1g", pattern=r"^[0-9]+[mg]$")
    """Memory of the Spark driver (the `lakefront process` process)."""
    spark_cluster: bool = False
    """services profile: `lakefront up` runs a Spark standalone cluster (a master and process.spark_workers
    workers, the EMR role's cluster) under var/, on loopback, and `process --engine spark` submits to it."""
    spark_workers: int = Field(2, ge=1, le=8)
    """Workers of the standalone cluster."""
    spark_worker_cores: int = Field(1, ge=1, le=64)
    """Cores each worker offers to executors."""
    spark_worker_memory: str = Field("1g", pattern=r"^[0-9]+[mg]$")
    """Memory each worker offers to executors."""
    spark_port: int = Field(7177, ge=1024, le=65000)
    """The standalone master's RPC port. Every other port is set from it, so nothing takes Spark's defaults
    (the web UIs' 8080 and 8081 are the load balancer's): the master's web UI +1, worker n's RPC +2n and web
    UI +2n+1."""
    duckdb_memory_limit: str = Field("4GB", pattern=r"^[0-9]+(MB|GB)$")
    """DuckDB's memory limit; it spills what it can to var/duckdb/tmp beyond it. At scale 10 the clean
    layer's window over 18M events failed to pin its blocks under 1GB (measured); 4GB runs it."""


class AnalyticsSettings(Section):
    refresh_s: float = Field(5.0, ge=0, le=3600)
    """How often, at most, an app instance checks the lake for newly committed marts (one catalog query for
    every table's current metadata file); when one changed it reloads the changed marts and drops its cached
    dashboard results. 0: on every
    request. Dashboards are at most this much older than the last processing run."""
    cache_entries: int = Field(1024, ge=0, le=1_000_000)
    """Dataset results kept in memory per app instance (least recently used dropped first); 0: no caching."""
    duckdb_memory_limit: str = Field("1GB", pattern=r"^[0-9]+(MB|GB)$")
    """Memory limit of each app instance's in-memory DuckDB holding the marts."""
    duckdb_threads: int = Field(4, ge=1, le=64)
    """Threads one dashboard query may use."""


class AwsSettings(Section):
    """The aws profile: what instances read at start-up, and what `lakefront aws synth` deploys."""

    region: str | None = Field(None, pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$")
    """AWS region of the deployment and of every AWS API call. Default: boto3's chain (AWS_REGION, the
    profile, the instance's metadata) at run time; `lakefront aws synth` needs it set."""
    account: str | None = Field(None, pattern=r"^[0-9]{12}$")
    """AWS account to deploy to. Default: the credentials' account (environment-agnostic templates)."""
    stack_name: str = Field("Lakefront", pattern=r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
    """Name of the CloudFormation stack."""
    domain: str | None = Field(None, pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
    """Public name of the shop (the Route 53 alias record and the ACM certificate), e.g. shop.example.com."""
    hosted_zone_id: str | None = Field(None, pattern=r"^Z[A-Z0-9]{1,31}$")
    """An existing Route 53 hosted zone to put the record in. Default: a new public zone for aws.zone_name."""
    zone_name: str | None = None
    """Name of the hosted zone (existing or new). Default: aws.domain itself."""
    nat_gateways: int = Field(1, ge=1, le=3)
    """NAT gateways (private instances install packages through them). 1 is cheaper; one per AZ survives an AZ."""
    web_instance_type: str = "t3.small"
    """EC2 instance type of the web tier."""
    web_min_instances: int = Field(2, ge=1, le=100)
    """Web tier Auto Scaling group minimum (its desired capacity is web.instances)."""
    web_max_instances: int = Field(6, ge=1, le=100)
    """Web tier Auto Scaling group maximum."""
    web_requests_per_target: int = Field(1000, ge=10, le=1_000_000)
    """Target tracking: requests per minute per web instance the Auto Scaling group aims at."""
    app_instance_type: str = "t3.small"
    """EC2 instance type of the Elastic Beanstalk environment (the app tier)."""
    app_max_instances: int = Field(6, ge=1, le=100)
    """Elastic Beanstalk environment's maximum instances (its minimum is app.instances)."""
    beanstalk_solution_stack: str = "64bit Amazon Linux 2023 v4.7.0 running Python 3.11"
    """Elastic Beanstalk platform; AWS retires old versions: `aws elasticbeanstalk list-available-solution-stacks`."""
    db_instance_type: str = "db.t4g.medium"
    """RDS instance class of the primary (Multi-AZ) and of the read replica."""
    db_storage_gb: int = Field(50, ge=20, le=65536)
    """Allocated storage of the database (gp3), in GB."""
    db_port: int = Field(3406, ge=1150, le=65535)
    """Port RDS MySQL listens on (not 3306: scanners try the default first)."""
    db_backup_days: int = Field(7, ge=1, le=35)
    """Days of automated RDS backups (point-in-time recovery window)."""
    cache_node_type: str = "cache.t4g.small"
    """ElastiCache node type (a primary and a replica in another AZ)."""
    cache_port: int = Field(6390, ge=1024, le=65535)
    """Port the ElastiCache replication group listens on (not 6379, for the same reason as db_port)."""
    emr_release: str = Field("emr-7.12.0", pattern=r"^emr-[0-9]+\.[0-9]+\.[0-9]+$")
    """EMR Serverless release that runs the pipeline's jobs (Spark 3.5 on EMR 7)."""
    pipeline_schedule: str = "rate(1 hour)"
    """EventBridge Scheduler expression that starts the pipeline (extract, then process)."""
    quicksight_principal: str | None = Field(None, pattern=r"^arn:aws[a-z-]*:quicksight:")
    """QuickSight user or group ARN given access to the data source and datasets. None: no QuickSight
    resources (QuickSight must be subscribed to in the console first)."""
    db_secret: str | None = None
    """Instances: ARN or name of the Secrets Manager secret holding the database credentials (RDS's JSON:
    username, password, host, port). At start-up the writer URL is built from it."""
    db_reader_host: str | None = None
    """Instances: host name of the read replica; the reader URL is the writer's with this host. None: the writer."""
    db_ca_file: Path | None = None
    """Instances: CA bundle that verifies the database's TLS certificate (RDS's global bundle). None: no TLS."""
    cache_secret: str | None = None
    """Instances: Secrets Manager secret whose JSON key "token" is the Redis AUTH token, added to cache.redis_url."""
    session_secret: str | None = None
    """Instances: Secrets Manager secret whose JSON key "key" is the session-signing secret_key."""
    app_url: str | None = Field(None, pattern=r"^https?://")
    """Web instances: base URL of the app tier (the internal ALB). Default: the local internal listener."""
    emr_application_id: str | None = None
    """`lakefront aws run`: the EMR Serverless application (stack output EmrApplicationId)."""
    emr_job_role_arn: str | None = Field(None, pattern=r"^arn:aws[a-z-]*:iam::")
    """`lakefront aws run`: the role the jobs run as (stack output EmrJobRoleArn)."""
    emr_entry_point: str | None = Field(None, pattern=r"^s3://")
    """`lakefront aws run`: S3 URL of the jobs' entry point (stack output EmrEntryPoint)."""
    emr_venv: str | None = Field(None, pattern=r"^s3://")
    """S3 URL of the packed virtualenv the jobs run in (docs/emr.md builds it). Default: artifacts/emr/ in the
    lake bucket."""


class BackupSettings(Section):
    interval_s: float = Field(3600.0, ge=0, le=7 * 86400)
    """`up` takes a full backup (`lakefront backup`) this often into the backups bucket; 0: never."""
    retention_days: float = Field(7.0, gt=0, le=35)
    """Base backups older than this (and the binary logs only they need) are deleted after each backup."""
    binlog_interval_s: float = Field(5.0, gt=0, le=3600)
    """services profile: how often `up` archives the primary's binary logs (the recovery point objective)."""


class Settings(BaseSettings):
    """Lakefront's configuration. Every field has a safe default for the embedded profile."""

    model_config = SettingsConfigDict(
        env_prefix="LAKEFRONT_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    profile: Profile = Profile.embedded
    """Which infrastructure plays the data roles: embedded (SQLite, embedded cache, directory), services
    (MariaDB, Redis, SeaweedFS) or aws (RDS, ElastiCache, S3, from the environment and Secrets Manager)."""
    var_dir: Path = Path("var")
    """Where the running system keeps its data, logs and run state."""
    secret_key: SecretStr | None = None
    """Encrypts the web session cookie (which carries the CSRF token); shared by every web instance.
    Changing it signs every browser out. Default: generated once into var/."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """Log level of every process."""
    lb: LoadBalancerSettings = LoadBalancerSettings()
    dns: DnsSettings = DnsSettings()
    nlb: NlbSettings = NlbSettings()
    web: TierSettings = TierSettings()
    app: AppTierSettings = AppTierSettings()
    db: DatabaseSettings = DatabaseSettings()
    cache: CacheSettings = CacheSettings()
    auth: AuthSettings = AuthSettings()
    objects: ObjectStoreSettings = ObjectStoreSettings()
    media: MediaSettings = MediaSettings()
    session: SessionSettings = SessionSettings()
    demo: DemoSettings = DemoSettings()
    lake: LakeSettings = LakeSettings()
    extract: ExtractSettings = ExtractSettings()
    process: ProcessSettings = ProcessSettings()
    analytics: AnalyticsSettings = AnalyticsSettings()
    aws: AwsSettings = AwsSettings()
    backup: BackupSettings = BackupSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = Path(os.environ.get(CONFIG_FILE_ENV, "lakefront.toml"))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_path))

    @model_validator(mode="after")
    def _ports_differ(self) -> Settings:
        ports = {"lb.public_port": self.lb.public_port, "lb.internal_port": self.lb.internal_port,
                 "lb.admin_port": self.lb.admin_port}
        if len(set(ports.values())) != len(ports):
            raise ValueError(f"listener ports must differ, got {ports}")
        return self

    @model_validator(mode="after")
    def _nlb_has_a_writer(self) -> Settings:
        if self.nlb.enabled and "mariadb" not in self.managed_servers():
            raise ValueError("nlb.enabled needs the services profile's own MariaDB nodes (no db.writer_url): "
                             "it is their writer endpoint")
        if self.nlb_enabled and self.nlb.port in (self.db.port, self.standby_port):
            raise ValueError(f"nlb.port ({self.nlb.port}) must differ from db.port and db.standby_port")
        return self

    @model_validator(mode="after")
    def _session_within_token(self) -> Settings:
        if self.session.max_age_s > self.auth.token_absolute_s:
            raise ValueError(f"session.max_age_s ({self.session.max_age_s}) must not exceed auth.token_absolute_s "
                             f"({self.auth.token_absolute_s}): a web session cannot outlive its token")
        return self

    @model_validator(mode="after")
    def _aws_uses_the_role(self) -> Settings:
        # The S3 keys' defaults are the local SeaweedFS server's; on AWS the instance role signs instead,
        # unless keys were given on purpose.
        if self.profile is Profile.aws and "access_key" not in self.objects.model_fields_set:
            self.objects.access_key = ""
            self.objects.secret_key = SecretStr("")
        return self

    # Derived locations: one place decides where everything lives under var/.
    @property
    def run_dir(self) -> Path:
        return self.var_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.var_dir / "log"

    @property
    def state_file(self) -> Path:
        return self.run_dir / "state.json"

    @property
    def sqlite_path(self) -> Path:
        return self.var_dir / "db" / "lakefront.sqlite3"

    @property
    def cache_path(self) -> Path:
        return self.var_dir / "cache" / "cache.sqlite3"

    @property
    def objects_root(self) -> Path:
        return self.objects.root or self.var_dir / "objects"

    @property
    def dns_enabled(self) -> bool:
        """Whether `up` runs the DNS server (dns.enabled, else the services profile)."""
        return self.dns.enabled if self.dns.enabled is not None else self.profile is Profile.services

    @property
    def nlb_enabled(self) -> bool:
        """Whether `up` runs the writer endpoint (nlb.enabled, else the services profile with its own MariaDB)."""
        return self.nlb.enabled if self.nlb.enabled is not None else "mariadb" in self.managed_servers()

    @property
    def replicated(self) -> bool:
        """True when `up` runs a primary and a standby itself and publishes their endpoints."""
        return "mariadb" in self.managed_servers() and self.db.standby

    @property
    def db_endpoints_file(self) -> Path | None:
        """Where the failover monitor publishes the current writer and readers (the role RDS's DNS
        endpoints play; format and readers: data/endpoints.py); None when the settings give the endpoints."""
        return self.run_dir / "db-endpoints.json" if self.replicated else None

    @property
    def db_roles_file(self) -> Path:
        """Which node of the pair is primary, kept between runs of `up` (data/endpoints.py)."""
        return self.var_dir / "db-roles.json"

    @property
    def standby_port(self) -> int:
        return self.db.standby_port or self.db.port + 1

    @property
    def cache_backend(self) -> str:
        if self.cache.backend:
            return self.cache.backend
        return "redis" if self.profile in (Profile.services, Profile.aws) else "embedded"

    @property
    def cache_mode(self) -> str:
        if self.cache.mode:
            return self.cache.mode
        # A given endpoint says nothing about its mode: single unless told (ElastiCache's primary endpoint).
        return "cluster" if self.profile is Profile.services and not self.cache.redis_url else "single"

    @property
    def redis_url(self) -> str:
        """Where the cache is. For the cluster `up` runs: every node it creates (redis://h:p1,h:p2,.../0),
        so a client starting while one node is down still finds the cluster through another."""
        if self.cache.redis_url:
            return self.cache.redis_url
        if self.cache_mode == "cluster" and self.profile is Profile.services:
            count = self.cache.cluster_primaries * (1 + self.cache.cluster_replicas)
            nodes = ",".join(f"127.0.0.1:{self.cache.port + n}" for n in range(count))
            return f"redis://{nodes}/0"
        return f"redis://127.0.0.1:{self.cache.port}/0"

    @property
    def objects_backend(self) -> str:
        if self.objects.backend:
            return self.objects.backend
        return "s3" if self.profile in (Profile.services, Profile.aws) else "directory"

    @property
    def s3_endpoint(self) -> str | None:
        if self.objects.s3_endpoint:
            return self.objects.s3_endpoint
        return f"http://127.0.0.1:{self.objects.s3_port}" if self.profile is Profile.services else None

    @property
    def lake_catalog(self) -> str:
        if self.lake.catalog:
            return self.lake.catalog
        return "glue" if self.profile is Profile.aws else "sql"

    @property
    def lake_catalog_url(self) -> str | None:
        """The sql catalog's database: given, or a SQLite file (embedded); None: the shop's writer database,
        wherever the primary is now (data/endpoints.py resolves it: it moves with a failover)."""
        if self.lake.catalog_url:
            return self.lake.catalog_url
        if self.profile is Profile.embedded:
            return f"sqlite:///{self.var_dir / 'lake' / 'catalog.sqlite3'}"
        return None

    @property
    def spark_master(self) -> str:
        if self.process.spark_master:
            return self.process.spark_master
        if self.process.spark_cluster and self.profile is Profile.services:
            return f"spark://127.0.0.1:{self.process.spark_port}"
        return "local[*]"

    @property
    def process_engine(self) -> str:
        if self.process.engine:
            return self.process.engine
        return "spark" if self.profile in (Profile.services, Profile.aws) else "duckdb"

    def managed_servers(self) -> list[str]:
        """Which data servers `lakefront up` must run itself: those the settings give no endpoint for."""
        if self.profile is not Profile.services:
            return []
        wanted = []
        if not self.db.writer_url:
            wanted.append("mariadb")
        if self.cache_backend == "redis" and not self.cache.redis_url:
            wanted.append("redis")
        if self.objects_backend == "s3" and not self.objects.s3_endpoint:
            wanted.append("seaweedfs")
        if self.process.spark_cluster and not self.process.spark_master:
            wanted.append("spark")
        return wanted

    @property
    def internal_url(self) -> str:
        """Base URL of the app tier as the web tier reaches it: through the internal listener (the internal ALB)."""
        if self.aws.app_url:
            return self.aws.app_url.rstrip("/")
        return f"http://{self.lb.host}:{self.lb.internal_port}"

    @property
    def internal_urls(self) -> list[str]:
        """The internal listener on every balancer node, the first internal_url: a web instance moves to the
        next when one cannot be reached."""
        if self.aws.app_url:
            return [self.internal_url]
        return [f"http://{host}:{self.lb.internal_port}" for host in self.lb.nodes]

    @property
    def public_urls(self) -> list[str]:
        """The public listener on every balancer node (what the DNS name resolves to)."""
        return [f"http://{host}:{self.lb.public_port}" for host in self.lb.nodes]

    @property
    def public_url(self) -> str:
        return f"http://{self.lb.host}:{self.lb.public_port}"

    def secret(self) -> str:
        """The web session secret: configured, or generated once and kept in var/run/secret_key."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.var_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(secrets.token_urlsafe(48))
            tmp.chmod(0o600)
            tmp.replace(path)
        return path.read_text().strip()

    def child_env(self) -> dict[str, str]:
        """Environment for a child process: this exact configuration, resolved, secrets included."""

        def reveal(value: Any) -> Any:
            if isinstance(value, SecretStr):
                return value.get_secret_value()
            if isinstance(value, dict):
                return {k: reveal(v) for k, v in value.items()}
            if isinstance(value, Path):
                return str(value)
            return value

        return {SETTINGS_JSON_ENV: json.dumps(reveal(self.model_dump(mode="python")))}


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "settings"
    value = first.get("input")
    shown = "" if isinstance(value, dict) else f" (got {value!r})"
    return f"invalid setting {where}: {first['msg']}{shown}"


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, or raise SettingsError with one line naming the bad field."""
    raw = os.environ.get(SETTINGS_JSON_ENV)
    try:
        if raw:
            settings = Settings.model_validate_json(raw)
            if overrides:
                settings = Settings.model_validate(settings.model_dump() | overrides)
        else:
            settings = Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None
    except ValueError as exc:  # malformed TOML or env JSON
        raise SettingsError(f"invalid settings: {exc}".splitlines()[0]) from None
    settings.var_dir = settings.var_dir.resolve()
    return settings
