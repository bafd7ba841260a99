"""The account of a run's orders against the database: was every acknowledged order kept, exactly once?

Each checkout the shoppers attempted (orders.jsonl) carries the idempotency key of its form and what
the shopper saw: ok (the order page, with its id), failed (a definite refusal: out of stock, an
expired form) or unknown (no answer, or a 5xx, even after retrying the same key). The database is
then asked for every order of the run's accounts (their emails carry the run id), by key:

- ok and in the database under the same id: kept. ok and missing: **lost**.
- failed and in the database: **refused but placed** (the shopper was told no, and charged).
- unknown: resolved either way, placed or not placed; both are fine, and counted.
- an order no attempt sent, or a key with two orders: **duplicate**.

The verdict is ok when nothing is lost, refused but placed, or duplicated.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa


@dataclass
class OrderAccount:
    attempts: int = 0
    acknowledged: int = 0
    kept: int = 0
    lost: list[str] = field(default_factory=list)
    refused: int = 0
    refused_but_placed: list[str] = field(default_factory=list)
    unknown: int = 0
    unknown_placed: int = 0
    unknown_not_placed: int = 0
    duplicates: list[str] = field(default_factory=list)
    database_error: str = ""

    @property
    def verdict(self) -> str:
        if self.database_error:
            return "unknown"
        return "fail" if self.lost or self.refused_but_placed or self.duplicates else "ok"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"verdict": self.verdict}


def read_attempts(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def database_orders(url: str, email_pattern: str) -> list[tuple[int, str | None]]:
    """(order id, idempotency key) of every order placed by an account matching `email_pattern` (SQL LIKE)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT o.id, o.idempotency_key FROM orders o JOIN customers c ON c.id = o.customer_id "
                "WHERE c.email LIKE :pattern"), {"pattern": email_pattern}).all()
    finally:
        engine.dispose()
    return [(int(r[0]), r[1]) for r in rows]


def account(attempts: list[dict[str, Any]], orders: list[tuple[int, str | None]]) -> OrderAccount:
    result = OrderAccount(attempts=len(attempts))
    by_key: dict[str | None, list[int]] = {}
    for order_id, key in orders:
        by_key.setdefault(key, []).append(order_id)
    sent = Counter(a["key"] for a in attempts)
    for key, ids in by_key.items():
        if key not in sent:
            result.duplicates += [f"order {i} (key {key}: no shopper sent it)" for i in ids]
        elif len(ids) > 1:
            result.duplicates.append(f"key {key}: orders {', '.join(map(str, sorted(ids)))}")
    for attempt in attempts:
        found = by_key.get(attempt["key"], [])
        outcome = attempt["outcome"]
        if outcome == "ok":
            result.acknowledged += 1
            if attempt["order_id"] in found:
                result.kept += 1
            else:
                result.lost.append(f"order {attempt['order_id']} (key {attempt['key']})")
        elif outcome == "failed":
            result.refused += 1
            if found:
                result.refused_but_placed.append(f"order {found[0]} (key {attempt['key']}, HTTP {attempt['status']})")
        else:
            result.unknown += 1
            if found:
                result.unknown_placed += 1
            else:
                result.unknown_not_placed += 1
    return result


def account_run(orders_file: Path, database_url: str, email_pattern: str) -> OrderAccount:
    attempts = read_attempts(orders_file)
    try:
        found = database_orders(database_url, email_pattern)
    except sa.exc.SQLAlchemyError as exc:
        result = OrderAccount(attempts=len(attempts))
        result.database_error = str(exc).splitlines()[0][:200]
        return result
    return account(attempts, found)
