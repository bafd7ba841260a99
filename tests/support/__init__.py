"""Test helpers shared by the suites: free ports, real processes, readiness waits, demo rows."""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from lakefront.data import tables
from lakefront.settings import Settings

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
LAKEFRONT = str(Path(sys.executable).parent / "lakefront")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_block(count: int) -> int:
    """The first of `count` consecutive free loopback ports (a server that derives its ports from one), below
    the kernel's ephemeral range, where no outgoing connection can take one between this check and the bind."""
    import random

    for _ in range(200):
        first = random.randrange(20000, 32000 - count)  # nosec B311 - a port number, not a secret
        free = True
        for port in range(first, first + count):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    free = False
                    break
        if free:
            return first
    raise RuntimeError(f"no block of {count} free ports found")


def eventually(probe: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll `probe` until it holds; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what}")
        time.sleep(0.05)


def wait_http(url: str, timeout: float = 90.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    # A deadline, not a pace: an instance answers within a second or two on an idle machine, but its imports
    # alone took 23 s with two cores shared by six test runs (load average 14), which a 20 s deadline failed.
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready after {timeout}s: {last}")


# Every test account signs up from loopback: the default limit per address (20 an hour) would stop a
# module's worth of them. The sign-in limits keep their defaults; tests of the limits set their own.
MANY_SIGNUPS = {"LAKEFRONT_AUTH__SIGNUP_ADDRESS_LIMIT": "100000"}


def lakefront_env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEFRONT_")}
    env["LAKEFRONT_VAR_DIR"] = str(var_dir)
    env.update(MANY_SIGNUPS)
    env.update(extra)
    return env


def run_cli(var_dir: Path, *args: str, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LAKEFRONT, *args], env=env or lakefront_env(var_dir), capture_output=True, text=True,
                          timeout=timeout)


@dataclass
class Instance:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Instances:
    items: list[Instance] = field(default_factory=list)

    def stop(self) -> None:
        for inst in self.items:
            if inst.proc.poll() is None:
                inst.proc.send_signal(signal.SIGTERM)
        for inst in self.items:
            try:
                inst.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                inst.proc.kill()
                inst.proc.wait()


def start_instance(tier: str, name: str, env: dict[str, str], log_dir: Path) -> Instance:
    port = free_port()
    log = log_dir / f"{name}.log"
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([LAKEFRONT, "serve", tier, "--port", str(port), "--name", name], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    inst = Instance(name, port, proc, log)
    wait_http(f"{inst.url}/healthz", proc=proc)
    return inst


class Database:
    """Direct access to the stack's database for test setup and checks (tests may; the tiers may not)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = sa.create_engine(url, poolclass=NullPool)

    def scalar(self, sql: str, **params: object) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()

    def add_category(self, slug: str = "tea", name: str = "Tea") -> int:
        with self.engine.begin() as conn:
            result = conn.execute(tables.categories.insert().values(
                slug=slug, name=name, description="", created_at=EPOCH, updated_at=EPOCH))
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def add_customers(self, prefix: str, count: int) -> list[str]:
        """Customers with sign-in tokens, written straight to the database; returns their bearer tokens."""
        tokens = [secrets.token_urlsafe(16) for _ in range(count)]
        # Issued now, as a sign-in would: within the absolute lifetime, and no renewal due for a while.
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            for i, token in enumerate(tokens):
                result = conn.execute(tables.customers.insert().values(
                    email=f"{prefix}{i}@example.com", name="Buyer", password_hash="unused", is_admin=False,
                    created_at=EPOCH, updated_at=EPOCH))
                conn.execute(tables.auth_tokens.insert().values(
                    token_hash=hashlib.sha256(token.encode()).hexdigest(),
                    customer_id=result.inserted_primary_key[0],  # type: ignore[index]
                    created_at=now, expires_at=now + timedelta(hours=12)))
        return tokens

    def make_admin(self, email: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(tables.customers.update().where(tables.customers.c.email == email).values(is_admin=True))

    def close(self) -> None:
        self.engine.dispose()


@dataclass
class AppStack:
    var_dir: Path
    env: dict[str, str]
    instances: list[Instance]
    db: Database

    def expire_cache_key(self, key: str) -> None:
        """Make one cached key disappear, exactly as if its TTL had just run out."""
        redis_url = self.env.get("LAKEFRONT_CACHE__REDIS_URL")
        if redis_url:
            from lakefront.data.cache_redis import make_redis

            backend = make_redis(redis_url, self.env.get("LAKEFRONT_CACHE__MODE", "single"), timeout_s=2.0)
            try:
                backend.delete(key)
            finally:
                backend.close()
            return
        from lakefront.data.cache import EmbeddedCache

        cache = EmbeddedCache(self.var_dir / "cache" / "cache.sqlite3")
        cache.delete(key)
        cache.close()

    def total(self, counter: str) -> float:
        return sum(metric(i.url, counter) for i in self.instances)


@contextmanager
def app_stack(var_dir: Path, count: int = 1, profile_env: dict[str, str] | None = None) -> Iterator[AppStack]:
    """Real app-tier processes on free ports over a migrated database (SQLite under var_dir by default)."""
    env = lakefront_env(var_dir, **(profile_env or {}))
    result = run_cli(var_dir, "db", "migrate", env=env)
    assert result.returncode == 0, result.stderr
    url = env.get("LAKEFRONT_DB__WRITER_URL") or f"sqlite:///{var_dir / 'db' / 'lakefront.sqlite3'}"
    db = Database(url)
    group = Instances()
    try:
        for i in range(count):
            group.items.append(start_instance("app", f"app-{i + 1}", env, var_dir))
        yield AppStack(var_dir, env, group.items, db)
    finally:
        group.stop()
        db.close()


def profile_settings(var_dir: Path, env: dict[str, str], **sections: Any) -> Settings:
    """The settings a process started with `env` (the `profile_env` fixture's variables) would load."""
    from lakefront.settings import DatabaseSettings, ObjectStoreSettings

    kwargs: dict[str, Any] = {"var_dir": var_dir, **sections}
    if env:
        kwargs |= {"profile": "services", "db": DatabaseSettings(writer_url=env["LAKEFRONT_DB__WRITER_URL"]),
                   "objects": ObjectStoreSettings(
                       s3_endpoint=env["LAKEFRONT_OBJECTS__S3_ENDPOINT"], bucket=env["LAKEFRONT_OBJECTS__BUCKET"],
                       access_key=env["LAKEFRONT_OBJECTS__ACCESS_KEY"],
                       secret_key=env["LAKEFRONT_OBJECTS__SECRET_KEY"])}
    return Settings(**kwargs)


def metric(base_url: str, name: str) -> float:
    """Sum of a Prometheus counter's samples at base_url/metrics."""
    text = httpx.get(f"{base_url}/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))


class Api:
    """A small JSON client for the app tier, as a customer or an admin would use it."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        h = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return h | (extra or {})

    def request(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                **kwargs: object) -> httpx.Response:
        # One connection per call: nothing left open for pytest's unraisable-resource check.
        return httpx.request(method, self.base_url + path, headers=self.headers(headers), timeout=30.0,
                             **kwargs)  # type: ignore[arg-type]

    def sign_up(self, email: str, password: str = "correct-horse", name: str = "Test Customer") -> Api:
        """Sign up, then sign in: the sign-up's answer carries no token (it must not tell a taken email)."""
        r = self.request("POST", "/api/auth/signup", json={"email": email, "name": name, "password": password})
        assert r.status_code == 202, r.text
        return self.sign_in(email, password)

    def sign_in(self, email: str, password: str = "correct-horse") -> Api:
        r = self.request("POST", "/api/auth/signin", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        return Api(self.base_url, r.json()["token"])
