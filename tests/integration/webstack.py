"""A real app instance and a real web instance on free loopback ports, for the web-tier tests.

No load balancer: the web instance's internal URL points straight at the app instance
(LAKEFRONT_LB__INTERNAL_PORT), which is all the web tier ever sees of the internal listener.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx

from support import MANY_SIGNUPS
from support.web import IDEMPOTENCY, Browser  # (Browser is re-exported for the web tests)

BIN = Path(sys.executable).parent / "lakefront"
READY_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class Stack:
    """Owns the processes it starts; stop() ends exactly those."""

    def __init__(self, var_dir: Path) -> None:
        self.var_dir = var_dir
        self.app_port = free_port()
        self.web_port = free_port()
        admin_port = free_port()
        public_port = free_port()
        self.env = {
            **os.environ,
            "LAKEFRONT_VAR_DIR": str(var_dir),
            "LAKEFRONT_LB__INTERNAL_PORT": str(self.app_port),
            # Never the defaults (8080, 2019): other stacks may be running on this machine.
            "LAKEFRONT_LB__PUBLIC_PORT": str(public_port),
            "LAKEFRONT_LB__ADMIN_PORT": str(admin_port),
            "LAKEFRONT_SECRET_KEY": "web-tests-secret-key-0123456789",
            **MANY_SIGNUPS,
        }
        self.env.pop("LAKEFRONT_SETTINGS_JSON", None)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def db_path(self) -> Path:
        return self.var_dir / "db" / "lakefront.sqlite3"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def app_url(self) -> str:
        return f"http://127.0.0.1:{self.app_port}"

    def migrate(self) -> None:
        subprocess.run([str(BIN), "db", "migrate"], env=self.env, cwd=self.var_dir, check=True,
                       capture_output=True)

    def _start(self, tier: str, port: int) -> None:
        # The child keeps its own copy of the descriptor; ours can close at once.
        with (self.var_dir / f"{tier}.log").open("ab") as log:
            proc = subprocess.Popen([str(BIN), "serve", tier, "--port", str(port), "--name", f"{tier}-1"],
                                    env=self.env, cwd=self.var_dir, stdout=log, stderr=subprocess.STDOUT)
        self.procs[tier] = proc
        _wait_healthy(f"http://127.0.0.1:{port}/healthz", proc, self.var_dir / f"{tier}.log")

    def start_app(self) -> None:
        self._start("app", self.app_port)

    def start_web(self) -> None:
        self._start("web", self.web_port)

    def stop(self, tier: str) -> None:
        proc = self.procs.pop(tier, None)
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop_all(self) -> None:
        for tier in list(self.procs):
            self.stop(tier)

    def log_text(self, tier: str) -> str:
        return (self.var_dir / f"{tier}.log").read_text(errors="replace")

    # Test data the API cannot create.
    def add_category(self, slug: str, name: str, description: str = "") -> int:
        with sqlite3.connect(self.db_path) as db:
            cursor = db.execute(
                "INSERT INTO categories (slug, name, description, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                (slug, name, description, _stamp(), _stamp()),
            )
            return int(cursor.lastrowid or 0)

    def make_admin(self, email: str) -> None:
        with sqlite3.connect(self.db_path) as db:
            changed = db.execute("UPDATE customers SET is_admin = 1 WHERE email = ?", (email,)).rowcount
        assert changed == 1, f"no customer {email}"

    def count(self, sql: str, *params: object) -> int:
        with sqlite3.connect(self.db_path) as db:
            return int(db.execute(sql, params).fetchone()[0])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not healthy in time:\n{log.read_text(errors='replace')[-3000:]}")


@contextmanager
def running_stack(var_dir: Path, categories: list[tuple[str, str]]) -> Iterator[Stack]:
    stack = Stack(var_dir)
    try:
        stack.migrate()
        for slug, name in categories:
            stack.add_category(slug, name, f"All things {name.lower()}")
        stack.start_app()
        stack.start_web()
        yield stack
    finally:
        stack.stop_all()


@contextmanager
def browsing(stack: Stack, email: str | None = None, name: str = "Shopper", *,
             admin: bool = False) -> Iterator[Browser]:
    """A browser on the web instance: a visitor, or signed up as `email` (and made an admin)."""
    b = Browser(stack.web_url)
    try:
        if email:
            b.signup(email, name)
        if email and admin:
            stack.make_admin(email)
            # The session learns the role at sign-in, so sign in again after the promotion.
            b.submit("/", "/signout")
            b.signin(email)
        yield b
    finally:
        b.close()


def wait_for(check: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    """Poll until check() is true: for effects that happen after the response (background tasks)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.05)


def api_admin_token(stack: Stack, email: str = "admin@example.com") -> str:
    """An admin's bearer token: sign up through the API, promote in the database, sign in again."""
    password = "admin password 123"
    with httpx.Client(base_url=stack.app_url, timeout=30) as api:
        assert api.post("/api/auth/signup", json={"email": email, "name": "Admin", "password": password}
                        ).status_code == 202
        stack.make_admin(email)
        response = api.post("/api/auth/signin", json={"email": email, "password": password})
        response.raise_for_status()
        return str(response.json()["token"])


def api_create_product(stack: Stack, token: str, **fields: object) -> dict[str, object]:
    body = {"description": "", "stock": 10, "is_active": True, **fields}
    with httpx.Client(base_url=stack.app_url, timeout=30) as api:
        response = api.post("/api/admin/products", json=body, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 201, response.text
        created: dict[str, object] = response.json()
        return created


def idempotency_key(html: str) -> str:
    found = IDEMPOTENCY.search(html)
    assert found, "checkout page without an idempotency key"
    return found.group(1)
