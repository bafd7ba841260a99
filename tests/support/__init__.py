"""Test helpers shared by the suites: free ports, real processes, readiness waits, demo rows."""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

NOW = "2026-01-01 00:00:00.000000"
LAKEFRONT = str(Path(sys.executable).parent / "lakefront")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None) -> None:
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


def lakefront_env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEFRONT_")}
    env["LAKEFRONT_VAR_DIR"] = str(var_dir)
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


@contextmanager
def app_instances(var_dir: Path, count: int = 1, **env_extra: str) -> Iterator[list[Instance]]:
    """Real app-tier processes on free ports over the database under var_dir (migrated first)."""
    env = lakefront_env(var_dir, **env_extra)
    result = run_cli(var_dir, "db", "migrate", env=env)
    assert result.returncode == 0, result.stderr
    group = Instances()
    try:
        for i in range(count):
            group.items.append(start_instance("app", f"app-{i + 1}", env, var_dir))
        yield group.items
    finally:
        group.stop()


def sqlite_db(var_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(var_dir / "db" / "lakefront.sqlite3")


def add_category(var_dir: Path, slug: str = "tea", name: str = "Tea") -> int:
    with sqlite_db(var_dir) as db:
        cur = db.execute("INSERT INTO categories (slug, name, description, created_at, updated_at) "
                         "VALUES (?, ?, '', ?, ?)", (slug, name, NOW, NOW))
        return int(cur.lastrowid or 0)


def add_customers(var_dir: Path, prefix: str, count: int) -> list[str]:
    """Customers with sign-in tokens, written straight to the database; returns their bearer tokens."""
    tokens = [secrets.token_urlsafe(16) for _ in range(count)]
    with sqlite_db(var_dir) as db:
        for i, token in enumerate(tokens):
            cur = db.execute("INSERT INTO customers (email, name, password_hash, is_admin, created_at, updated_at) "
                             "VALUES (?, 'Buyer', 'unused', 0, ?, ?)", (f"{prefix}{i}@example.com", NOW, NOW))
            db.execute("INSERT INTO auth_tokens (token_hash, customer_id, created_at, expires_at) "
                       "VALUES (?, ?, ?, '2999-01-01 00:00:00.000000')",
                       (hashlib.sha256(token.encode()).hexdigest(), cur.lastrowid, NOW))
    return tokens


def make_admin(var_dir: Path, email: str) -> None:
    with sqlite_db(var_dir) as db:
        db.execute("UPDATE customers SET is_admin = 1 WHERE email = ?", (email,))


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
        r = self.request("POST", "/api/auth/signup", json={"email": email, "name": name, "password": password})
        assert r.status_code == 201, r.text
        return Api(self.base_url, r.json()["token"])

    def sign_in(self, email: str, password: str = "correct-horse") -> Api:
        r = self.request("POST", "/api/auth/signin", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        return Api(self.base_url, r.json()["token"])
