"""What the extract copies: the shop's tables, less the secrets. The extract stage owns this list."""

from __future__ import annotations

from collections.abc import Iterable

from lakefront.analytics.errors import ExtractError

EXTRACT_TABLES: tuple[str, ...] = ("categories", "products", "customers", "orders", "order_lines", "events")
"""The shop's tables the lake gets, as raw_<table>, in the order a run extracts them."""
EXCLUDED_COLUMNS: dict[str, frozenset[str]] = {"customers": frozenset({"password_hash"})}
"""Columns that never leave the database."""
NOT_EXTRACTED = {"auth_tokens": "it holds sign-in secrets", "cart_items": "carts are transient state"}
"""Tables that never leave the database, with the reason a refusal gives."""


def check_tables(names: Iterable[str] | None) -> list[str]:
    """The tables to extract (default: all), each once; ExtractError naming an unknown or secret one."""
    chosen = list(names) if names else list(EXTRACT_TABLES)
    for name in chosen:
        if name in NOT_EXTRACTED:
            raise ExtractError(f"table {name!r} is never extracted: {NOT_EXTRACTED[name]}")
        if name not in EXTRACT_TABLES:
            raise ExtractError(f"unknown table {name!r}; extractable tables: {', '.join(EXTRACT_TABLES)}")
    return list(dict.fromkeys(chosen))
