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
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pymysql
from _up import output, start_up, stop_up

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the shoppers the e2e tests use
from lakefront.servers.managed import node_server
from lakefront.servers.mariadb import MariaDBError, MariaDBServer
from lakefront.servers.procs import free_port, free_port_run
from lakefront.servers.replication import Replication
from lakefront.servers.seaweedfs import pick_s3_port
from support import MANY_SIGNUPS
from support.shoppers import Shoppers

AMPLE_STOCK = 1_000_000
READY_TIMEOUT_S = 180.0
ADMIN = {"email": "admin@lakefront.local", "password": "lakefront-admin"}


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
        return node_server(self.var_dir, name, int(node["port"]))


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
        "LAKEFRONT_NLB__PORT": str(free_port()),
        "LAKEFRONT_CACHE__PORT": str(free_port_run(10)),
        "LAKEFRONT_OBJECTS__S3_PORT": str(pick_s3_port()),
        "LAKEFRONT_DEMO__SCALE": str(scale),
        "LAKEFRONT_EXTRACT__INTERVAL_S": "0",  # no analytics pipeline competing for the CPUs
        **MANY_SIGNUPS,  # every drill's shoppers sign up from loopback
    }


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what}: not reached in {timeout:.0f}s")
        time.sleep(0.1)
    return time.monotonic() - started


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
    load = Shoppers(stack.public_url, products, clients)
    drill = Drill(number, old, rng.uniform(0.5, 4.0))
    began = time.monotonic()
    load.start()
    try:
        wait_for(lambda: all(load.count(c, outcomes=("ok",)) >= 1 for c in range(clients)) or bool(load.problems), 90,
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
    after = [o.answered - killed_at for o in load.orders
             if o.outcome == "ok" and o.answer_sent and o.answered and o.answer_sent > killed_at]
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
        for (domain, sid), seq in Replication(server).gtid_binlog_state().items():
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
