"""Clickstream events (page views, add-to-cart): the top of the analytics funnel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from lakefront.data.tables import events


class EventRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, *, kind: str, session_id: str, customer_id: int | None, product_id: int | None,
            now: datetime) -> None:
        self.conn.execute(events.insert().values(kind=kind, session_id=session_id, customer_id=customer_id,
                                                 product_id=product_id, occurred_at=now, created_at=now,
                                                 updated_at=now))

    def add_many(self, rows: list[dict[str, Any]], *, now: datetime) -> None:
        """Insert many events in one statement (executemany): the web tier's batched page views."""
        self.conn.execute(events.insert(), [row | {"occurred_at": now, "created_at": now, "updated_at": now}
                                            for row in rows])
