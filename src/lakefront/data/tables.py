"""The schema, as SQLAlchemy Core tables. Migrations under migrations/ create exactly this.

Conventions: integer cents for money; every mutable row has created_at and updated_at (the
extractor's watermark), indexed together with the id; names fit MySQL's 64-character limit.
"""

from __future__ import annotations

import sqlalchemy as sa

from lakefront.data.types import BigId, UtcDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    ]


categories = sa.Table(
    "categories",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("slug", sa.String(80), nullable=False, unique=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("description", sa.Text(), nullable=False, default=""),
    *_timestamps(),
    sa.Index(None, "updated_at", "id"),
)

products = sa.Table(
    "products",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("sku", sa.String(40), nullable=False, unique=True),
    sa.Column("slug", sa.String(160), nullable=False),
    sa.Column("name", sa.String(160), nullable=False),
    sa.Column("description", sa.Text(), nullable=False, default=""),
    sa.Column("category_id", BigId, sa.ForeignKey("categories.id"), nullable=False),
    sa.Column("price_cents", sa.Integer(), nullable=False),
    sa.Column("stock", sa.Integer(), nullable=False),
    sa.Column("image_key", sa.String(200), nullable=True),
    sa.Column("thumb_key", sa.String(200), nullable=True),
    sa.Column("is_active", sa.Boolean(), nullable=False, default=True),
    sa.Column("popularity", sa.Integer(), nullable=False, default=0),
    *_timestamps(),
    sa.CheckConstraint("price_cents >= 0", name="price_nonnegative"),
    sa.CheckConstraint("stock >= 0", name="stock_nonnegative"),
    sa.Index(None, "category_id", "is_active", "price_cents"),
    sa.Index(None, "category_id", "is_active", "popularity"),
    sa.Index(None, "category_id", "is_active", "name"),
    sa.Index(None, "category_id", "is_active", "created_at"),
    sa.Index(None, "is_active", "popularity"),
    sa.Index(None, "updated_at", "id"),
)

customers = sa.Table(
    "customers",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(254), nullable=False, unique=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("is_admin", sa.Boolean(), nullable=False, default=False),
    *_timestamps(),
    sa.Index(None, "updated_at", "id"),
)

# Sign-in tokens: the app tier stores only a hash, so a leaked table cannot be replayed.
auth_tokens = sa.Table(
    "auth_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("customer_id", BigId, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Index(None, "customer_id"),
)

cart_items = sa.Table(
    "cart_items",
    metadata,
    sa.Column("customer_id", BigId, sa.ForeignKey("customers.id"), primary_key=True),
    sa.Column("product_id", BigId, sa.ForeignKey("products.id"), primary_key=True),
    sa.Column("quantity", sa.Integer(), nullable=False),
    *_timestamps(),
    sa.CheckConstraint("quantity > 0", name="quantity_positive"),
)

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("customer_id", BigId, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("total_cents", sa.BigInteger(), nullable=False),
    sa.Column("item_count", sa.Integer(), nullable=False),
    sa.Column("idempotency_key", sa.String(80), nullable=True),
    sa.Column("placed_at", UtcDateTime(), nullable=False),
    *_timestamps(),
    sa.UniqueConstraint("customer_id", "idempotency_key"),
    sa.Index(None, "customer_id", "placed_at"),
    sa.Index(None, "placed_at"),
    sa.Index(None, "updated_at", "id"),
)

order_lines = sa.Table(
    "order_lines",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("order_id", BigId, sa.ForeignKey("orders.id"), nullable=False),
    sa.Column("product_id", BigId, sa.ForeignKey("products.id"), nullable=False),
    sa.Column("quantity", sa.Integer(), nullable=False),
    sa.Column("unit_price_cents", sa.Integer(), nullable=False),
    sa.Column("line_total_cents", sa.BigInteger(), nullable=False),
    *_timestamps(),
    sa.Index(None, "order_id"),
    sa.Index(None, "product_id"),
    sa.Index(None, "updated_at", "id"),
)

# Clickstream: page views and add-to-cart events, the top of the analytics funnel.
events = sa.Table(
    "events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("occurred_at", UtcDateTime(), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("session_id", sa.String(40), nullable=False),
    sa.Column("customer_id", BigId, nullable=True),
    sa.Column("product_id", BigId, nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Index(None, "occurred_at"),
    sa.Index(None, "updated_at", "id"),
)

ORDER_STATUSES = ("placed", "shipped", "delivered", "cancelled")
EVENT_KINDS = ("page_view", "add_to_cart")

# One row, rewritten by the failover monitor through the primary every probe: on a standby,
# UTC now minus `beat_at` is its replication lag (the pt-heartbeat method), which read routing bounds.
heartbeat = sa.Table(
    "lf_heartbeat",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("beat_at", UtcDateTime(), nullable=False),
    sa.Column("node", sa.String(40), nullable=False),
)
