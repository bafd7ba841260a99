"""The database gone under a running app tier, in both profiles: three clients stream every kind of request
through the outage and out of it. Nothing answers 500 (or any 5xx but 503); every 503 says when to retry in
problem+json; what does not need the database (health, images, cached reads) keeps answering; once the
database is back every kind of request succeeds again, with no restart; and no order is left half written.

How the database goes away:
- services: the MariaDB server is stopped (a crashed or restarting RDS instance: connections refused).
- embedded, locked: another process opens the SQLite file and holds its write lock (BEGIN EXCLUSIVE) until
  told to let go, as a stuck maintenance job or an operator's `sqlite3` shell left inside a transaction
  would. This is what an unavailable SQLite database looks like to its users: every write (and every
  signed-in request: tokens are checked in a write transaction on the primary) waits out busy_timeout and
  fails with "database is locked". Reads still work, since WAL lets readers past a writer.
- embedded, moved: the file renamed away and back (a hurried restore). Connections the app holds keep the
  moved file open and work on; a new one finds no database, which must be a 503, not an empty database
  SQLite would create in its place (found by this test: "no such table" 500s that outlived the outage).
"""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from PIL import Image

from support import Api, AppStack, app_stack
from support.servers import MariaDBHandle

# Each write waits this long for the lock before "database is locked" (the default, 15 s, would make a
# round of the stream through the outage take minutes; the behaviour is the same).
BUSY_TIMEOUT_MS = 500
CLIENTS = 3
POOL_SIZE = 2  # (and as many overflow): a connection leaked by each failed request would soon leave none
ROUNDS_DOWN = 3
RECOVERY_DEADLINE_S = 60.0
OUTAGE_DEADLINE_S = 120.0

# What each kind answers when the database is up. A kind in NEEDS_PRIMARY cannot answer without the primary
# (a signed-in customer's token is checked there; writes go there), so inside the outage it must be a 503.
SUCCESS = {
    "health": 200, "home": 200, "categories": 200, "product": 200, "listing": 200, "search": 200, "image": 200,
    "me": 200, "cart": 200, "cart_add": 200, "checkout": 201, "orders": 200, "page_views": 204, "signin": 200,
    "signup": 202, "admin_patch": 200, "admin_post": 201, "admin_image": 200,
}
NEEDS_PRIMARY = {"me", "cart", "cart_add", "checkout", "orders", "page_views", "signin", "signup", "admin_patch",
                 "admin_post", "admin_image"}
NEVER_DOWN = {"health", "image"}  # no database behind them


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (40, 120, 200)).save(out, format="PNG")
    return out.getvalue()


@dataclass
class Outcome:
    client: int
    kind: str
    started: float
    ended: float
    status: int
    headers: httpx.Headers
    body: str
    key: str | None = None  # the checkout's Idempotency-Key


@dataclass
class Store:
    """The shop the stream acts on: an admin, buyers, a product with an image."""

    app: AppStack
    admin: Api
    buyers: list[tuple[str, Api]]  # one per client of the stream: each has a cart of its own
    category_id: int
    product_id: int
    image_key: str
    serial: Iterator[int] = field(default_factory=lambda: count(1))

    def requests(self, client: int, tag: str) -> dict[str, Callable[[], tuple[httpx.Response, str | None]]]:
        """Every kind of request, as client number `client` sends it."""
        admin, pid = self.admin, self.product_id
        email, buyer = self.buyers[client]
        anonymous = Api(buyer.base_url)

        def checkout() -> tuple[httpx.Response, str | None]:
            key = f"{tag}-{client}-{next(self.serial)}"
            return buyer.request("POST", "/api/orders", headers={"Idempotency-Key": key}), key

        def plain(fn: Callable[[], httpx.Response]) -> Callable[[], tuple[httpx.Response, str | None]]:
            return lambda: (fn(), None)

        return {
            "health": plain(lambda: anonymous.request("GET", "/healthz")),
            "home": plain(lambda: anonymous.request("GET", "/api/home")),
            "categories": plain(lambda: anonymous.request("GET", "/api/categories")),
            "product": plain(lambda: anonymous.request("GET", f"/api/products/{pid}")),
            "listing": plain(lambda: anonymous.request("GET", "/api/products?category=tea")),
            "search": plain(lambda: anonymous.request("GET", "/api/products?q=teapot")),
            "image": plain(lambda: anonymous.request("GET", f"/api/media/{self.image_key}")),
            "me": plain(lambda: buyer.request("GET", "/api/me")),
            "cart": plain(lambda: buyer.request("GET", "/api/cart")),
            "cart_add": plain(lambda: buyer.request("PUT", f"/api/cart/items/{pid}", json={"quantity": 1})),
            "checkout": checkout,  # right after cart_add: the cart has something in it
            "orders": plain(lambda: buyer.request("GET", "/api/orders")),
            "page_views": plain(lambda: anonymous.request("POST", "/api/events/page-views", json={"views": [
                {"session_id": f"s{client}", "product_id": pid, "token": buyer.token}]})),
            "signin": plain(lambda: anonymous.request("POST", "/api/auth/signin", json={
                "email": email, "password": "correct-horse"})),
            "signup": plain(lambda: anonymous.request("POST", "/api/auth/signup", json={
                "email": f"newcomer{next(self.serial)}@example.com", "name": "New", "password": "correct-horse"})),
            "admin_patch": plain(lambda: admin.request("PATCH", f"/api/admin/products/{pid}",
                                                       json={"stock": 100000})),
            "admin_post": plain(lambda: admin.request("POST", "/api/admin/products", json={
                "sku": f"OUT-{next(self.serial)}", "name": "Outage kettle", "category_id": self.category_id,
                "price_cents": 1500, "stock": 3})),
            "admin_image": plain(lambda: admin.request("PUT", f"/api/admin/products/{pid}/image",
                                                       files={"image": ("teapot.png", _png(), "image/png")})),
        }


class Stream:
    """Clients (threads) each sending every kind of request in turn, round after round, until stopped."""

    def __init__(self, store: Store, tag: str) -> None:
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._failures: list[BaseException] = []
        self._threads = [threading.Thread(target=self._run, args=(client, store.requests(client, tag)), daemon=True)
                         for client in range(len(store.buyers))]

    def _run(self, client: int, requests: dict[str, Callable[[], tuple[httpx.Response, str | None]]]) -> None:
        try:
            while not self._stop.is_set():
                for kind, send in requests.items():
                    started = time.monotonic()
                    response, key = send()
                    with self._lock:
                        self.outcomes.append(Outcome(client, kind, started, time.monotonic(), response.status_code,
                                                     response.headers, response.text, key))
        except BaseException as exc:  # a request that got no answer at all (connection reset, timeout)
            self._failures.append(exc)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> list[Outcome]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)
            assert not thread.is_alive(), "a client never finished its round"
        assert not self._failures, f"a request got no HTTP answer: {self._failures!r}"
        return self.snapshot()

    def snapshot(self) -> list[Outcome]:
        with self._lock:
            return list(self.outcomes)

    def wait_until(self, done: Callable[[list[Outcome]], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not done(self.snapshot()):
            assert not self._failures, f"a request got no HTTP answer: {self._failures!r}"
            assert time.monotonic() < deadline, what
            time.sleep(0.1)


def every_kind(outcomes: list[Outcome], after: float, *, times: int = 1, ok: bool = False) -> bool:
    """Whether every client sent each kind after `after` at least `times` times (and it succeeded)."""
    seen = Counter((o.client, o.kind) for o in outcomes
                   if o.started >= after and (not ok or o.status == SUCCESS[o.kind]))
    return all(seen[c, kind] >= times for c in range(CLIENTS) for kind in SUCCESS)


class SqliteLockHolder:
    """Another process holding the SQLite file's write lock, from start() until release()."""

    SCRIPT = ("import sqlite3, sys\n"
              "conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)\n"
              "conn.execute('BEGIN EXCLUSIVE')\n"
              "print('locked', flush=True)\n"
              "sys.stdin.read()\n"
              "conn.execute('ROLLBACK')\n")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", self.SCRIPT, str(self.path)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "locked"  # blocks until the lock is held (or it died)

    def release(self) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.close()  # it rolls back and exits
        assert self.proc.wait(timeout=30) == 0
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class Outage:
    """Takes the database away, then brings it back. `total`: nothing that needs the primary can answer."""

    total = True

    def begin(self) -> None:
        raise NotImplementedError

    def end(self) -> None:
        raise NotImplementedError


class MariaDBStopped(Outage):
    def __init__(self, mariadb: MariaDBHandle) -> None:
        self.mariadb = mariadb

    def begin(self) -> None:
        self.mariadb.server.stop()

    def end(self) -> None:
        self.mariadb.server.start(self.mariadb.server.root / "mariadbd.out")
        self.mariadb.server.wait_ready()


class SqliteLocked(Outage):
    def __init__(self, app: AppStack) -> None:
        self.locker = SqliteLockHolder(_sqlite_path(app))

    def begin(self) -> None:
        self.locker.start()

    def end(self) -> None:
        self.locker.release()


class SqliteMoved(Outage):
    """The file moved away (`mv`, as a hurried restore would) and back. Not total: a connection the app
    holds keeps the moved file open and works on; only new connections find no database."""

    total = False

    def __init__(self, app: AppStack) -> None:
        self.path = _sqlite_path(app)
        self.away = self.path.with_name("moved-away.sqlite3")

    def begin(self) -> None:
        self.path.rename(self.away)

    def end(self) -> None:
        # No tier made an empty database in its place (it would answer "no such table", and its
        # connections would keep that empty file after this one is back).
        assert not self.path.exists(), "a serving tier created an empty database where the file was"
        self.away.rename(self.path)


def _sqlite_path(app: AppStack) -> Path:
    return app.var_dir / "db" / "lakefront.sqlite3"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, profile_env: dict[str, str]) -> Iterator[Store]:
    env = {**profile_env, "LAKEFRONT_DB__BUSY_TIMEOUT_MS": str(BUSY_TIMEOUT_MS),
           "LAKEFRONT_DB__POOL_SIZE": str(POOL_SIZE)}
    with app_stack(tmp_path_factory.mktemp("outage"), count=1, profile_env=env) as app:
        category = app.db.add_category()
        url = app.instances[0].url
        Api(url).sign_up("ops@example.com")
        app.db.make_admin("ops@example.com")
        admin = Api(url).sign_in("ops@example.com")
        buyers = [(f"buyer{i}@example.com", Api(url).sign_up(f"buyer{i}@example.com")) for i in range(CLIENTS)]
        r = admin.request("POST", "/api/admin/products", json={
            "sku": "OUT-0", "name": "Outage teapot", "category_id": category, "price_cents": 2500,
            "stock": 100000})
        assert r.status_code == 201, r.text
        product_id = int(r.json()["id"])
        r = admin.request("PUT", f"/api/admin/products/{product_id}/image",
                          files={"image": ("teapot.png", _png(), "image/png")})
        assert r.status_code == 200, r.text
        yield Store(app, admin, buyers, category, product_id, r.json()["image_key"])


def _outage(store: Store, profile_env: dict[str, str], request: pytest.FixtureRequest) -> Outage:
    if profile_env:
        return MariaDBStopped(request.getfixturevalue("mariadb_server"))
    return SqliteLocked(store.app)


def test_every_kind_of_request_through_a_database_outage_is_answered_honestly_and_recovers(
        store: Store, profile_env: dict[str, str], request: pytest.FixtureRequest) -> None:
    _through(store, _outage(store, profile_env, request), "outage")


def test_a_sqlite_file_moved_away_and_back_is_503_never_an_empty_database(
        store: Store, profile_env: dict[str, str]) -> None:
    if profile_env:
        pytest.skip("the embedded profile's SQLite file")
    _through(store, SqliteMoved(store.app), "moved")


def _through(store: Store, outage: Outage, tag: str) -> None:
    """Run the stream before, through and after the outage; check every answer and the orders left."""
    stream = Stream(store, tag)
    stream.start()
    up_since = time.monotonic()
    stream.wait_until(lambda o: every_kind(o, up_since, ok=True), "the store never worked before the outage",
                      RECOVERY_DEADLINE_S)

    outage.begin()
    try:
        down_since = time.monotonic()
        # Several rounds of every kind from every client, sent and answered while the database is away:
        # more failed requests than the pool has connections.
        stream.wait_until(lambda o: every_kind(o, down_since, times=ROUNDS_DOWN),
                          "the stream stalled in the outage", OUTAGE_DEADLINE_S)
        down_until = time.monotonic()
    finally:
        outage.end()
    back_since = time.monotonic()
    stream.wait_until(lambda o: every_kind(o, back_since, ok=True),
                      "some kinds of request never succeeded again after the database returned",
                      RECOVERY_DEADLINE_S)
    outcomes = stream.stop()

    cart_filled = dict.fromkeys(range(CLIENTS), True)
    for o in outcomes:
        assert o.status < 500 or o.status == 503, f"{o.kind} answered {o.status}: {o.body[:300]}"
        if o.status == 503:
            assert o.headers.get("retry-after") == "1", o
            assert o.headers.get("content-type") == "application/problem+json", o
        elif o.kind == "checkout" and not cart_filled[o.client]:
            # The client's cart_add just before did not get through: "the cart is empty" is the right answer.
            assert o.status in (201, 409), f"checkout answered {o.status}: {o.body[:300]}"
        else:
            # A cached or lock-free read may still answer; nothing else (no 401 for a valid token, no 404).
            assert o.status == SUCCESS[o.kind], f"{o.kind} answered {o.status}: {o.body[:300]}"
        if o.kind == "cart_add":
            cart_filled[o.client] = o.status == 200
    during = [o for o in outcomes if o.started >= down_since and o.ended <= down_until]
    assert every_kind(during, down_since, times=ROUNDS_DOWN)
    for o in during:
        if o.kind in NEEDS_PRIMARY and outage.total:
            assert o.status == 503, f"{o.kind} answered {o.status} with the database gone: {o.body[:300]}"
        if o.kind in NEVER_DOWN:
            assert o.status == 200, f"{o.kind} answered {o.status} with the database gone: {o.body[:300]}"
    log = store.app.instances[0].log.read_text(errors="replace")
    assert "Traceback" not in log, log[log.index("Traceback"):][:3000]
    _assert_orders_whole(store, outcomes, tag)


def _assert_orders_whole(store: Store, outcomes: list[Outcome], tag: str) -> None:
    """Nothing half written: a checkout left no order, or a whole one (lines adding up to its total, stock
    taken), and a retry with its key returns that order; every 201 is an order that exists."""
    attempted = {o.key: o for o in outcomes if o.key is not None}
    with store.app.db.engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT o.id, o.idempotency_key AS k, o.total_cents, o.item_count, COUNT(l.id) AS line_count, "
            "SUM(l.line_total_cents) AS lines_total, SUM(l.quantity) AS quantity FROM orders o "
            "LEFT JOIN order_lines l ON l.order_id = o.id WHERE o.idempotency_key LIKE :tag "
            "GROUP BY o.id, o.idempotency_key, o.total_cents, o.item_count"), {"tag": f"{tag}-%"}).all()
    stored = {row.k: row for row in rows}
    assert len(stored) == len(rows), "one key, two orders"
    assert set(stored) <= set(attempted)
    for key, row in stored.items():
        assert row.line_count > 0, f"order {row.id} ({key}) has no lines"
        assert (row.lines_total, row.quantity) == (row.total_cents, row.item_count), f"order {row.id} ({key})"
    for key, o in attempted.items():
        if o.status == 201:
            assert key in stored, f"checkout {key} answered 201 but left no order"
        elif key not in stored:
            continue
        buyer = store.buyers[o.client][1]
        replay = buyer.request("POST", "/api/orders", headers={"Idempotency-Key": key})
        assert (replay.status_code, replay.json()["id"]) == (200, stored[key].id), (key, replay.text)
