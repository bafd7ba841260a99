"""Every lake format writes record batches incrementally and reads back the same rows and values."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from lakefront.analytics.formats import (
    FORMATS,
    TIMESTAMP,
    FormatError,
    check_format,
    open_writer,
    read_bytes,
)

SCHEMA = pa.schema([("id", pa.int64()), ("total_cents", pa.int64()), ("updated_at", TIMESTAMP),
                    ("is_active", pa.bool_()), ("name", pa.string()), ("image_key", pa.string()),
                    ("ratio", pa.float64())])


def _batches() -> list[pa.RecordBatch]:
    first = {"id": [1, 2, 3], "total_cents": [0, 9_007_199_254_740_993, -5],
             "updated_at": [datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
                            datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
                            datetime(2026, 6, 1, tzinfo=UTC)],
             "is_active": [True, False, None], "name": ["Thé & Café ☕ — 東京", "", 'quote " and, comma\nnewline'],
             "image_key": [None, "products/1.jpg", ""], "ratio": [0.5, None, -1e300]}
    second = {"id": [4], "total_cents": [None], "updated_at": [None], "is_active": [True], "name": [None],
              "image_key": ["x"], "ratio": [2.0]}
    return [pa.RecordBatch.from_pydict(first, schema=SCHEMA), pa.RecordBatch.from_pydict(second, schema=SCHEMA)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_reads_back_the_rows_it_wrote(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"part.{fmt}"
    writer = open_writer(fmt, path, SCHEMA)
    for batch in _batches():
        writer.write(batch)
    writer.close()
    table = read_bytes(fmt, path.read_bytes(), SCHEMA)
    assert table.schema == SCHEMA
    assert table.to_pylist() == pa.Table.from_batches(_batches()).to_pylist()


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_empty_file_reads_as_an_empty_table_with_the_schema(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"empty.{fmt}"
    open_writer(fmt, path, SCHEMA).close()
    table = read_bytes(fmt, path.read_bytes(), SCHEMA)
    assert table.num_rows == 0
    assert table.schema == SCHEMA


def test_csv_and_json_lines_spell_timestamps_as_iso_8601_utc(tmp_path: Path) -> None:
    for fmt in ("csv", "jsonl"):
        path = tmp_path / f"part.{fmt}"
        writer = open_writer(fmt, path, SCHEMA)
        writer.write(_batches()[0])
        writer.close()
        assert "2026-01-02T03:04:05.123456Z" in path.read_text(encoding="utf-8")


def test_dates_round_trip_through_every_format_and_unknown_formats_are_refused(tmp_path: Path) -> None:
    from datetime import date

    schema = pa.schema([("day", pa.date32()), ("orders", pa.int64())])
    rows = pa.table({"day": [date(2026, 3, 1), None], "orders": [3, 4]}, schema=schema)
    for fmt in FORMATS:
        path = tmp_path / f"dates.{fmt}"
        writer = open_writer(fmt, path, schema)
        for batch in rows.to_batches():
            writer.write(batch)
        writer.close()
        assert read_bytes(fmt, path.read_bytes(), schema).equals(rows), fmt
    with pytest.raises(FormatError, match="unknown format 'xml'"):
        check_format("xml")
