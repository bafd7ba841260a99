"""How a commit changes a table: its schema evolved or conformed, its rows added or replaced, its record kept.

Helpers of the Lake's commits (analytics/lake/__init__.py), inside one pyiceberg transaction each.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lakefront.analytics.errors import LakeError

if TYPE_CHECKING:
    from pyiceberg.table import Table

PROPERTY_PREFIX = "lakefront."


class SchemaMismatch(LakeError):
    """The new rows' schema cannot evolve from the table's (a type changed)."""


def summary(properties: Mapping[str, Any]) -> dict[str, str]:
    """A commit's record as snapshot summary properties: lakefront.<key>, values as text (JSON unless text)."""
    return {PROPERTY_PREFIX + key: value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            for key, value in properties.items()}


def has_rows(table: Table) -> bool:
    current = table.current_snapshot()
    record = current.summary.additional_properties if current is not None and current.summary else {}
    return int(record.get("total-records", 0)) > 0


def replace_rows(tx: Any, table: Table, rows: pa.Table, properties: Mapping[str, Any]) -> None:
    # An overwrite of a table without rows warns that its delete matched nothing: append instead.
    if not has_rows(table):
        tx.append(rows, snapshot_properties=summary(properties))
    else:
        tx.overwrite(rows, snapshot_properties=summary(properties))


def evolve(tx: Any, table: Table, schema: pa.Schema) -> None:
    """Add the columns of `schema` the table lacks (a column added to the source database)."""
    known = set(table.schema().column_names)
    if any(name not in known for name in schema.names):
        with tx.update_schema() as update:
            update.union_by_name(schema)


def conform(tx: Any, table: Table, schema: pa.Schema) -> None:
    """Make the table's schema exactly `schema`: columns added, dropped and put in its order."""
    current = table.schema().as_arrow()
    if [(f.name, _plain(f.type)) for f in current] == [(f.name, _plain(f.type)) for f in schema]:
        return
    names = schema.names
    with tx.update_schema() as update:
        update.union_by_name(schema)
        for name in current.names:
            if name not in names:
                update.delete_column(name)
        update.move_first(names[0])
        for before, name in itertools.pairwise(names):
            update.move_after(name, before)


def _plain(kind: pa.DataType) -> pa.DataType:
    return pa.string() if pa.types.is_large_string(kind) else kind
