"""Crash drills: how long do orders stop when the primary MariaDB dies, and is any order lost or doubled?

Starts `lakefront up --profile services` (primary + standby, Redis, SeaweedFS, 2 web and 2 app instances
behind Caddy) in a temporary var dir on free ports, then runs --drills crash drills. In each, --clients
shoppers (threads, one fresh customer each, signed up through the web tier) place orders through the
PUBLIC listener exactly as a browser does: set the cart, open the checkout form, post it with the form's
idempotency key, and post it again with the SAME key after a 5xx, a dropped connection or a timeout
(honoring Retry-After) until a definite answer or a 30 s deadline. At a random moment the primary's
mariadbd is killed with SIGKILL; the shoppers go on until a few seconds after the new primary is
published; then the drill waits until the old primary has rejoined as the standby.

Measured per drill: kill -> first write (the first order confirmed whose POST was sent after the kill,
as seen by the shopper, through the load balancer), the monitor's own promotion time (failover event
duration_s, from the first failed probe to the new writer being published), and how the old primary
came back (replicated, or rebuilt from a dump because it held transactions the standby never got).
Checked per drill, on the new primary: acknowledged orders missing (lost), more than one order per key,
and orders nobody acknowledged that do not come from an unknown (timed out) request (duplicates).

    .venv/bin/python bench/failover_bench.py --drills 20
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import random
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pymysql
from _up import output, start_up, stop_up

from lakefront.servers.mariadb import MariaDBError, MariaDBServer
from lakefront.servers.procs import free_port
from lakefront.servers.seaweedfs import pick_s3_port

ORDER_DEADLINE_S = 30.0
REQUEST_TIMEOUT_S = 15.0
AMPLE_STOCK = 1_000_000
READY_TIMEOUT_S = 180.0
ADMIN = {"email": "admin@lakefront.local", "password": "lakefront-admin"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
IDEMPOTENCY = re.compile(r'name="idempotency_key" value="([^"]+)"')
ORDER_PATH = re.compile(r"^/orders/(\d+)$")


def step(message: str) -> None:
    print(f"# {message}", flush=True)


# The stack.


@dataclass
class Stack:
    var_dir: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.env['LAKEFRONT_LB__PUBLIC_PORT']}"

    @property
    def internal_url(self) -> str:
        return f"http://127.0.0.1:{self.env['LAKEFRONT_LB__INTERNAL_PORT']}"

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads((self.var_dir / "run" / "state.json").read_text())
        return result

    def database(self) -> dict[str, Any]:
        db: dict[str, Any] = self.state()["database"]
        return db

    def output(self) -> str:
        return output(self.var_dir)

    def up(self) -> None:
        self.proc = start_up(self.var_dir, self.env, timeout_s=READY_TIMEOUT_S)

    def down(self) -> None:
        stop_up(self.proc)

    def node_server(self, name: str) -> MariaDBServer:
        node = next(n for n in self.database()["nodes"] if n["name"] == name)
        root = self.var_dir / ("mariadb" if name == "db-1" else "mariadb-2")
        return MariaDBServer(root, int(node["port"]), server_id=1 if name == "db-1" else 2)


def stack_env(var_dir: Path, scale: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEFRONT_")}
    return env | {
        "LAKEFRONT_VAR_DIR": str(var_dir),
        "LAKEFRONT_CONFIG": str(var_dir / "no-lakefront.toml"),  # ignore any lakefront.toml in the cwd
        "LAKEFRONT_PROFILE": "services",
        "LAKEFRONT_LB__PUBLIC_PORT": str(free_port()),
        "LAKEFRONT_LB__INTERNAL_PORT": str(free_port()),
        "LAKEFRONT_LB__ADMIN_PORT": str(free_port()),
        "LAKEFRONT_LB__HEALTH_INTERVAL_S": "0.5",
        "LAKEFRONT_DB__PORT": str(free_port()),
        "LAKEFRONT_DB__STANDBY_PORT": str(free_port()),
        "LAKEFRONT_CACHE__PORT": str(free_port()),
        "LAKEFRONT_OBJECTS__S3_PORT": str(pick_s3_port()),
        "LAKEFRONT_DEMO__SCALE": str(scale),
        "LAKEFRONT_EXTRACT__INTERVAL_S": "0",  # no analytics pipeline competing for the CPUs
    }


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what}: not reached in {timeout:.0f}s")
        time.sleep(0.1)
    return time.monotonic() - started


# Shoppers.


class Browser:
    """Cookies and the session's CSRF token, as a browser keeps them."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, follow_redirects=False, timeout=REQUEST_TIMEOUT_S)
        self.csrf = ""

    def get(self, path: str) -> httpx.Response:
        response = self.http.get(path)
        found = CSRF.search(response.text) if "text/html" in response.headers.get("content-type", "") else None
        if found:
            self.csrf = found.group(1)
        return response

    def post(self, path: str, data: dict[str, str]) -> httpx.Response:
        return self.http.post(path, data={**data, "csrf_token": self.csrf})


@dataclass
class Order:
    key: str
    client: int
    outcome: str = "unknown"  # ok (order id received), failed (definite refusal), unknown (errors until deadline)
    order_id: int | None = None
    answer_sent: float = 0.0  # monotonic time the answered attempt was sent
    answered: float = 0.0  # and answered
    attempts: list[str] = field(default_factory=list)


@dataclass
class Load:
    base_url: str
    products: list[int]
    clients: int
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    stop: threading.Event = field(default_factory=threading.Event)
    orders: list[Order] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for client in range(self.clients):
            thread = threading.Thread(target=self._shop, args=(client,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=ORDER_DEADLINE_S + REQUEST_TIMEOUT_S + 10)

    def placed(self, client: int) -> int:
        with self.lock:
            return sum(1 for o in self.orders if o.client == client and o.outcome == "ok")

    def _retrying(self, send: Callable[[], httpx.Response], deadline: float,
                  attempts: list[str] | None = None) -> httpx.Response | None:
        backoff = 0.1
        while True:
            try:
                response: httpx.Response | None = send()
                answer = str(response.status_code) if response is not None else "?"
            except httpx.TransportError as exc:
                response, answer = None, type(exc).__name__
            with self.lock:
                self.statuses[answer] += 1
            if attempts is not None:
                attempts.append(answer)
            if response is not None and response.status_code < 500:
                return response
            if time.monotonic() >= deadline:
                return None
            pause = backoff
            if response is not None and (retry_after := response.headers.get("retry-after", "")).isdigit():
                pause = max(pause, min(float(retry_after), 2.0))
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            backoff = min(backoff * 2, 1.0)

    def _shop(self, client: int) -> None:
        browser = Browser(self.base_url)
        product_id = self.products[client % len(self.products)]
        try:
            deadline = time.monotonic() + 60
            page = self._retrying(lambda: browser.get("/signup"), deadline)
            signed = self._retrying(lambda: browser.post("/signup", {
                "email": f"drill-{self.tag}-{client}@example.com", "name": f"Drill {client}",
                "password": "correct horse battery"}), deadline) if page is not None else None
            if signed is None or signed.status_code != 303:
                raise RuntimeError(f"sign-up failed: {signed.status_code if signed else 'no answer'}")
            while not self.stop.is_set():
                order = self._order(browser, client, product_id)
                if order is not None:
                    with self.lock:
                        self.orders.append(order)
        except Exception as exc:
            with self.lock:
                self.problems.append(f"client {client}: {exc!r}")
        finally:
            browser.http.close()

    def _order(self, browser: Browser, client: int, product_id: int) -> Order | None:
        deadline = time.monotonic() + ORDER_DEADLINE_S
        cart = self._retrying(lambda: browser.get("/cart"), deadline)
        if cart is None or cart.status_code != 200:
            return None
        line = self._retrying(lambda: browser.post(f"/cart/items/{product_id}", {"quantity": "1"}), deadline)
        if line is None or line.status_code != 303:
            return None
        form = self._retrying(lambda: browser.get("/checkout"), deadline)
        found = IDEMPOTENCY.search(form.text) if form is not None and form.status_code == 200 else None
        if found is None:
            return None
        order = Order(key=found.group(1), client=client)
        sent = 0.0

        def post() -> httpx.Response:
            nonlocal sent
            sent = time.monotonic()
            return browser.post("/checkout", {"idempotency_key": order.key})

        answer = self._retrying(post, time.monotonic() + ORDER_DEADLINE_S, order.attempts)
        if answer is None:
            return order
        order.answer_sent, order.answered = sent, time.monotonic()
        location = ORDER_PATH.match(answer.headers.get("location", "")) if answer.status_code == 303 else None
        if location:
            order.outcome, order.order_id = "ok", int(location.group(1))
        else:
            order.outcome = "failed"
        return order


# One drill.


@dataclass
class Drill:
    number: int
    killed: str
    kill_after_s: float
    first_write_s: float | None = None
    promotion_s: float = 0.0
    recovery_s: float = 0.0
    wall_s: float = 0.0  # the whole drill: sign-ups to the checks
    rejoined: str = ""
    outcomes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    stray: list[str] = field(default_factory=list)  # in the database from an unknown (timed-out) request: allowed
    old_primary_writes_after_promotion: int = 0
    nodes_differ: bool = False
    extra_restarts: int = 0  # the old primary died again after its rejoin
    problems: list[str] = field(default_factory=list)


def run_drill(stack: Stack, number: int, products: list[int], clients: int, rng: random.Random) -> Drill:
    db = stack.database()
    old, new = db["primary"], db["standby"]
    old_pid = int(next(n["pid"] for n in db["nodes"] if n["name"] == old))
    old_restarts = int(next(n["restarts"] for n in db["nodes"] if n["name"] == old))
    old_sid = 1 if old == "db-1" else 2
    load = Load(stack.public_url, products, clients)
    drill = Drill(number, old, rng.uniform(0.5, 4.0))
    began = time.monotonic()
    load.start()
    try:
        wait_for(lambda: all(load.placed(c) >= 1 for c in range(clients)) or bool(load.problems), 90,
                 "every shopper has an order")
        time.sleep(drill.kill_after_s)
        killed_at = time.monotonic()
        os.kill(old_pid, signal.SIGKILL)
        wait_for(lambda: stack.database()["primary"] == new, 60, f"{new} published as the primary")
        time.sleep(3.0)
    finally:
        load.finish()
    drill.problems += load.problems
    drill.outcomes = Counter(o.outcome for o in load.orders)
    drill.statuses = load.statuses
    after = [o.answered - killed_at for o in load.orders if o.outcome == "ok" and o.answer_sent > killed_at]
    drill.first_write_s = min(after) if after else None

    event = stack.database()["failovers"][-1]
    if (event["kind"], event["old_primary"], event["new_primary"]) != ("failover", old, new):
        drill.problems.append(f"unexpected last event {event}")

    def rejoined() -> bool:
        d = stack.database()
        e: dict[str, Any] = next((e for e in d["failovers"] if e["id"] == event["id"]), {})
        return (all(n["alive"] and not n["rejoining"] for n in d["nodes"]) and bool(d["readers"])
                and bool(e.get("old_primary_rejoined")))

    drill.recovery_s = (time.monotonic() - killed_at) + wait_for(rejoined, 300, f"{old} rejoined")
    event = next(e for e in stack.database()["failovers"] if e["id"] == event["id"])
    drill.promotion_s, drill.rejoined = float(event["duration_s"]), str(event["old_primary_rejoined"])

    primary, standby = stack.node_server(new), stack.node_server(old)
    rows = orders_of(primary, load.tag)
    by_key: dict[str, list[int]] = {}
    for order_id, key in rows:
        by_key.setdefault(key, []).append(order_id)
    outcome = {o.key: o for o in load.orders}
    drill.lost = [o.key for o in load.orders if o.outcome == "ok" and by_key.get(o.key) != [o.order_id]]
    drill.duplicates = [k for k, ids in by_key.items() if len(ids) > 1]
    for key in by_key:
        sent = outcome.get(key)
        if sent is None or sent.outcome == "failed":
            drill.duplicates.append(key)  # an order nobody asked for, or one refused to the shopper
        elif sent.outcome == "unknown":
            drill.stray.append(key)
    sql = "SELECT COUNT(*), COALESCE(SUM(total_cents), 0) FROM orders"

    def same_orders() -> bool:
        try:
            return query(primary, sql) == query(standby, sql)
        except (pymysql.MySQLError, MariaDBError):  # the standby restarting (see extra_restarts)
            return False

    try:
        wait_for(same_orders, 90, "the standby has the primary's orders")
    except TimeoutError:
        drill.nodes_differ = True
    promoted = event["promoted_gtid"]
    for server in (primary, standby):
        for (domain, sid), seq in server.gtid_binlog_state().items():
            if sid == old_sid and seq != promoted.get(f"{domain}-{sid}"):
                drill.old_primary_writes_after_promotion += 1
    restarts = int(next(n["restarts"] for n in stack.database()["nodes"] if n["name"] == old))
    drill.extra_restarts = restarts - old_restarts - 1  # beyond the one restart after the kill
    drill.wall_s = time.monotonic() - began
    return drill


def query(server: MariaDBServer, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with server.connect_root(connect_timeout=5) as conn, conn.cursor() as cur:
        cur.execute("USE lakefront")
        cur.execute(sql, args)
        return list(cur.fetchall())


def orders_of(server: MariaDBServer, tag: str) -> list[tuple[int, str]]:
    rows = query(server, "SELECT o.id, o.idempotency_key FROM orders o JOIN customers c ON c.id = o.customer_id "
                         "WHERE c.email LIKE %s", (f"drill-{tag}-%",))
    return [(int(i), str(k)) for i, k in rows]


def prepare_products(stack: Stack) -> list[int]:
    r = httpx.post(f"{stack.internal_url}/api/auth/signin", json=ADMIN, timeout=30)
    r.raise_for_status()
    headers = {"Authorization": f"Bearer {r.json()['token']}"}
    items = httpx.get(f"{stack.internal_url}/api/products?per_page=4&sort=price_asc", timeout=30).json()["items"]
    ids = [int(item["id"]) for item in items]
    for pid in ids:
        httpx.patch(f"{stack.internal_url}/api/admin/products/{pid}", json={"stock": AMPLE_STOCK, "is_active": True},
                    headers=headers, timeout=30).raise_for_status()
    return ids


# Report.


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)  # nearest rank
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def report(drills: list[Drill], args: argparse.Namespace, started: float) -> None:
    firsts = [d.first_write_s for d in drills if d.first_write_s is not None]
    promotions = [d.promotion_s for d in drills]
    lost = sum(len(d.lost) for d in drills)
    dupes = sum(len(d.duplicates) for d in drills)
    outcomes = sum((d.outcomes for d in drills), Counter())
    statuses = sum((d.statuses for d in drills), Counter())
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parent.parent).stdout.strip()
    print(f"\n## Crash drills: kill -9 of the primary MariaDB under {args.clients} shoppers, {len(drills)} drills")
    print(f"{platform.node()}: {os.cpu_count()} CPUs (nproc), Python {platform.python_version()}, "
          f"{platform.machine()}, commit {commit} (+ working tree), "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {time.monotonic() - started:.0f} s in all\n")
    print("| drill | killed | kill at +s | kill -> first write s | promotion s (monitor) | rejoin | "
          "kill -> rejoined s | extra restarts | drill s | ok | failed | unknown | 503s | other non-2xx/3xx | lost | "
          "dup |")
    print("|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for d in drills:
        other = sum(n for s, n in d.statuses.items() if not (s.isdigit() and int(s) < 400) and s != "503")
        first = f"{d.first_write_s:.2f}" if d.first_write_s is not None else "none"
        print(f"| {d.number} | {d.killed} | {d.kill_after_s:.1f} | {first} | {d.promotion_s:.2f} | {d.rejoined} | "
              f"{d.recovery_s:.1f} | {d.extra_restarts} | {d.wall_s:.1f} | {d.outcomes['ok']} | "
              f"{d.outcomes['failed']} | {d.outcomes['unknown']} | "
              f"{d.statuses['503']} | {other} | {len(d.lost)} | {len(d.duplicates)} |")
    print()
    if firsts:
        print(f"kill -> first successful write (sent after the kill, through the load balancer): "
              f"p50 {pct(firsts, 50):.2f} s, p95 {pct(firsts, 95):.2f} s, max {max(firsts):.2f} s, "
              f"mean {statistics.mean(firsts):.2f} s (aim: p50 <= 5 s, p95 <= 10 s)")
    print(f"monitor promotion (first failed probe -> new writer published): p50 {pct(promotions, 50):.2f} s, "
          f"p95 {pct(promotions, 95):.2f} s, max {max(promotions):.2f} s")
    print(f"orders: {dict(outcomes)}; acknowledged but lost: {lost}; duplicated or unasked-for: {dupes} "
          f"(aim: 0 and 0); in the database from an unknown request: {sum(len(d.stray) for d in drills)}")
    print(f"old primary back as standby: {dict(Counter(d.rejoined for d in drills))}; "
          f"old-primary transactions after promotion: {sum(d.old_primary_writes_after_promotion for d in drills)}; "
          f"drills whose nodes differed after rejoin: {sum(d.nodes_differ for d in drills)}; "
          f"old primary died again after rejoining: {sum(d.extra_restarts > 0 for d in drills)} drill(s) "
          f"(rebuilt: {sum(d.extra_restarts > 0 for d in drills if d.rejoined == 'rebuilt')})")
    print(f"answers seen by shoppers (all requests): {dict(sorted(statuses.items()))}")
    for d in drills:
        for problem in d.problems:
            print(f"drill {d.number}: {problem}")
    if not firsts or len(firsts) < len(drills):
        print(f"drills with no write after the kill: {[d.number for d in drills if d.first_write_s is None]}")
    argv = shlex.join(sys.argv[1:])
    print(f"\nreproduce: .venv/bin/python bench/failover_bench.py {argv}".rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drills", type=int, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--scale", type=float, default=0.01, help="demo data scale")
    parser.add_argument("--seed", type=int, default=4, help="seed of the random kill moments")
    parser.add_argument("--var-dir", type=Path, help="keep the stack's var dir here (default: a temp dir)")
    args = parser.parse_args()
    started = time.monotonic()
    rng = random.Random(args.seed)
    with contextlib.ExitStack() as cleanup:
        var_dir = args.var_dir or Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="lf-failover-")))
        stack = Stack(var_dir, stack_env(var_dir, args.scale))
        step(f"lakefront up --profile services in {var_dir}")
        stack.up()
        cleanup.callback(stack.down)
        products = prepare_products(stack)
        drills: list[Drill] = []
        for number in range(1, args.drills + 1):
            try:
                drill = run_drill(stack, number, products, args.clients, rng)
            except (TimeoutError, MariaDBError, pymysql.MySQLError) as exc:  # report what was measured so far
                step(f"drill {number} could not finish: {exc}; stopping (see {var_dir}/up.err)")
                break
            first = f"{drill.first_write_s:.2f}s" if drill.first_write_s is not None else "none"
            step(f"drill {number}: killed {drill.killed}, first write {first}, promotion {drill.promotion_s:.2f}s, "
                 f"{drill.rejoined}, {dict(drill.outcomes)}, lost {len(drill.lost)}, dup {len(drill.duplicates)}")
            drills.append(drill)
        if drills:
            report(drills, args, started)


if __name__ == "__main__":
    main()
