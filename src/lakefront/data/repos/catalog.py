"""Categories and products."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import Connection

from lakefront.data.repos import inserted_id
from lakefront.data.repos.rows import CategoryRow, NewProduct, ProductChanges, ProductRow
from lakefront.data.tables import categories, products

_SORTS: dict[str, tuple[sa.ColumnElement[Any], ...]] = {
    "popular": (products.c.popularity.desc(), products.c.id),
    "price_asc": (products.c.price_cents, products.c.id),
    "price_desc": (products.c.price_cents.desc(), products.c.id),
    "name": (products.c.name, products.c.id),
    "newest": (products.c.created_at.desc(), products.c.id.desc()),
}
SORTS = tuple(_SORTS)

_PRODUCT_COLUMNS = (
    products.c.id, products.c.sku, products.c.slug, products.c.name, products.c.description,
    products.c.category_id, products.c.price_cents, products.c.stock, products.c.image_key,
    products.c.thumb_key, products.c.is_active, products.c.popularity, products.c.created_at,
    products.c.updated_at, categories.c.slug.label("category_slug"), categories.c.name.label("category_name"),
)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class CatalogRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # Categories
    def categories(self) -> list[CategoryRow]:
        count = (sa.select(sa.func.count()).where(products.c.category_id == categories.c.id,
                                                  products.c.is_active.is_(True))
                 .scalar_subquery().label("product_count"))
        rows = self.conn.execute(
            sa.select(categories.c.id, categories.c.slug, categories.c.name, categories.c.description, count)
            .order_by(categories.c.name))
        return [cast(CategoryRow, dict(r._mapping)) for r in rows]

    def category_by_slug(self, slug: str) -> CategoryRow | None:
        return next((c for c in self.categories() if c["slug"] == slug), None)

    def category_exists(self, category_id: int) -> bool:
        row = self.conn.execute(sa.select(categories.c.id).where(categories.c.id == category_id)).first()
        return row is not None

    # Products: reads
    def _select(self) -> sa.Select[Any]:
        return sa.select(*_PRODUCT_COLUMNS).join(categories, categories.c.id == products.c.category_id)

    def product(self, product_id: int) -> ProductRow | None:
        row = self.conn.execute(self._select().where(products.c.id == product_id)).first()
        return None if row is None else cast(ProductRow, dict(row._mapping))

    def products_by_ids(self, ids: list[int]) -> dict[int, ProductRow]:
        if not ids:
            return {}
        rows = self.conn.execute(self._select().where(products.c.id.in_(ids)))
        return {r.id: cast(ProductRow, dict(r._mapping)) for r in rows}

    def page(self, *, category_id: int | None = None, words: list[str] | None = None, sort: str = "popular",
             offset: int = 0, limit: int = 24, include_inactive: bool = False) -> tuple[list[ProductRow], int]:
        conditions: list[sa.ColumnElement[bool]] = []
        if not include_inactive:
            conditions.append(products.c.is_active.is_(True))
        if category_id is not None:
            conditions.append(products.c.category_id == category_id)
        for word in words or []:
            pattern = f"%{_escape_like(word)}%"
            conditions.append(sa.or_(products.c.name.ilike(pattern, escape="\\"),
                                     products.c.description.ilike(pattern, escape="\\"),
                                     products.c.sku.ilike(pattern, escape="\\")))
        where = sa.and_(sa.true(), *conditions)
        total = self.conn.execute(sa.select(sa.func.count()).select_from(products).where(where)).scalar_one()
        rows = self.conn.execute(self._select().where(where).order_by(*_SORTS[sort]).offset(offset).limit(limit))
        return [cast(ProductRow, dict(r._mapping)) for r in rows], int(total)

    # Products: writes
    def sku_taken(self, sku: str) -> bool:
        return self.conn.execute(sa.select(products.c.id).where(products.c.sku == sku)).first() is not None

    def add_product(self, values: NewProduct, now: datetime) -> int:
        result = self.conn.execute(products.insert().values(**values, popularity=0, created_at=now,
                                                            updated_at=now))
        return inserted_id(result)

    def update_product(self, product_id: int, values: ProductChanges, now: datetime) -> bool:
        result = self.conn.execute(products.update().where(products.c.id == product_id)
                                   .values(**values, updated_at=now))
        return result.rowcount == 1

    def take_stock(self, product_id: int, quantity: int, now: datetime) -> bool:
        """Decrement stock only if enough is left: one conditional UPDATE, safe under concurrency."""
        result = self.conn.execute(
            products.update()
            .where(products.c.id == product_id, products.c.stock >= quantity, products.c.is_active.is_(True))
            .values(stock=products.c.stock - quantity, popularity=products.c.popularity + quantity,
                    updated_at=now))
        return result.rowcount == 1

    def count(self) -> int:
        return int(self.conn.execute(sa.select(sa.func.count()).select_from(products)).scalar_one())

    def stock(self, product_id: int) -> int:
        return int(self.conn.execute(sa.select(products.c.stock).where(products.c.id == product_id)).scalar_one())
