"""Cart lines, one row per (customer, product)."""

from __future__ import annotations

from datetime import datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy import Connection

from lakefront.data.repos.rows import CartLine
from lakefront.data.tables import cart_items


class CartRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def lines(self, customer_id: int) -> list[CartLine]:
        rows = self.conn.execute(sa.select(cart_items.c.product_id, cart_items.c.quantity)
                                 .where(cart_items.c.customer_id == customer_id)
                                 .order_by(cart_items.c.created_at, cart_items.c.product_id))
        return [cast(CartLine, dict(r._mapping)) for r in rows]

    def set_quantity(self, customer_id: int, product_id: int, quantity: int, now: datetime) -> None:
        # One upsert statement. UPDATE-then-INSERT took a gap lock on a missing row and then asked to
        # insert into that gap: two customers adding their first item at once deadlocked on InnoDB.
        values = {"customer_id": customer_id, "product_id": product_id, "quantity": quantity,
                  "created_at": now, "updated_at": now}
        dialect = self.conn.dialect.name
        if dialect == "mysql":
            from sqlalchemy.dialects.mysql import insert as mysql_insert

            mysql_stmt = mysql_insert(cart_items).values(**values)
            self.conn.execute(mysql_stmt.on_duplicate_key_update(quantity=mysql_stmt.inserted.quantity,
                                                                 updated_at=mysql_stmt.inserted.updated_at))
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            sqlite_stmt = sqlite_insert(cart_items).values(**values)
            self.conn.execute(sqlite_stmt.on_conflict_do_update(
                index_elements=[cart_items.c.customer_id, cart_items.c.product_id],
                set_={"quantity": sqlite_stmt.excluded.quantity, "updated_at": sqlite_stmt.excluded.updated_at}))
        else:  # portable fallback: UPDATE, then INSERT if nothing was there
            updated = self.conn.execute(
                cart_items.update()
                .where(cart_items.c.customer_id == customer_id, cart_items.c.product_id == product_id)
                .values(quantity=quantity, updated_at=now))
            if updated.rowcount == 0:
                self.conn.execute(cart_items.insert().values(**values))

    def remove(self, customer_id: int, product_id: int) -> None:
        self.conn.execute(cart_items.delete().where(cart_items.c.customer_id == customer_id,
                                                    cart_items.c.product_id == product_id))

    def clear(self, customer_id: int) -> None:
        self.conn.execute(cart_items.delete().where(cart_items.c.customer_id == customer_id))
