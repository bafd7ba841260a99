"""Orders and their lines."""

from __future__ import annotations

from datetime import datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy import Connection

from lakefront.data.repos import inserted_id
from lakefront.data.repos.rows import NewOrderLine, OrderLineRow, OrderRow, OrderSummaryRow
from lakefront.data.tables import order_lines, orders, products

_SUMMARY = (orders.c.id, orders.c.customer_id, orders.c.status, orders.c.total_cents, orders.c.item_count,
            orders.c.placed_at)


class OrderRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, *, customer_id: int, lines: list[NewOrderLine], idempotency_key: str | None,
            now: datetime) -> int:
        total = sum(line["line_total_cents"] for line in lines)
        result = self.conn.execute(orders.insert().values(
            customer_id=customer_id, status="placed", total_cents=total,
            item_count=sum(line["quantity"] for line in lines), idempotency_key=idempotency_key,
            placed_at=now, created_at=now, updated_at=now))
        order_id = inserted_id(result)
        self.conn.execute(order_lines.insert(), [
            {**line, "order_id": order_id, "created_at": now, "updated_at": now} for line in lines])
        return order_id

    def by_idempotency_key(self, customer_id: int, key: str) -> int | None:
        row = self.conn.execute(sa.select(orders.c.id).where(orders.c.customer_id == customer_id,
                                                             orders.c.idempotency_key == key)).first()
        return None if row is None else int(row.id)

    def for_customer(self, customer_id: int, limit: int = 100) -> list[OrderSummaryRow]:
        rows = self.conn.execute(sa.select(*_SUMMARY).where(orders.c.customer_id == customer_id)
                                 .order_by(orders.c.placed_at.desc(), orders.c.id.desc()).limit(limit))
        return [cast(OrderSummaryRow, dict(r._mapping)) for r in rows]

    def get(self, order_id: int) -> OrderRow | None:
        row = self.conn.execute(sa.select(*_SUMMARY).where(orders.c.id == order_id)).first()
        if row is None:
            return None
        order = cast(OrderRow, dict(row._mapping))
        lines = self.conn.execute(
            sa.select(order_lines.c.product_id, products.c.name.label("product_name"), order_lines.c.quantity,
                      order_lines.c.unit_price_cents, order_lines.c.line_total_cents)
            .join(products, products.c.id == order_lines.c.product_id)
            .where(order_lines.c.order_id == order_id).order_by(order_lines.c.id))
        order["lines"] = [cast(OrderLineRow, dict(r._mapping)) for r in lines]
        return order
