"""Repositories: SQL for one aggregate each, on the connection of a unit of work. They never commit."""

from __future__ import annotations

from sqlalchemy import CursorResult


def inserted_id(result: CursorResult[object]) -> int:
    """The new row's primary key after a single-row INSERT."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])
