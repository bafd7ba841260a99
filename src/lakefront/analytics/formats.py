"""File formats the lake's rows are exported in (`lakefront sql --output`): Parquet, CSV, JSON Lines and Avro,
written one record batch at a time. (The lake's tables themselves are Iceberg, with Parquet data files.)

Every writer takes pyarrow record batches with the lake's types (int64 ids and cents, timestamp[us, UTC], bool,
string, float64; dates too, as the marts have them) and appends them to a local file, so memory is bounded by one
batch whatever the table's size. Every reader turns a file back into a pyarrow table with that schema, so the same
rows read back with the same values from any format:

- Parquet: typed columns, zstd.
- CSV: a header; timestamps as ISO-8601 UTC (``2026-01-02T03:04:05.123456Z``); booleans
  ``true``/``false``; strings always quoted so an empty string and a null (empty, unquoted) differ.
- JSON Lines: one object per row, timestamps as in CSV, nulls as ``null``.
- Avro: deflate blocks; ``long`` for ids and cents, ``timestamp-micros`` for timestamps, ``date`` for dates,
  every column a union with ``null``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import IO, Any, Protocol

import fastavro
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

FORMATS = ("parquet", "csv", "jsonl", "avro")
EXTENSIONS = {"parquet": "parquet", "csv": "csv", "jsonl": "jsonl", "avro": "avro"}
CONTENT_TYPES = {"parquet": "application/vnd.apache.parquet", "csv": "text/csv",
                 "jsonl": "application/x-ndjson", "avro": "application/avro"}
TIMESTAMP = pa.timestamp("us", tz="UTC")
_ISO = "%Y-%m-%dT%H:%M:%SZ"  # with a microsecond unit, %S prints the fraction too

class FormatError(ValueError):
    """An unknown format name, or a file that does not hold what its manifest says."""


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise FormatError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return fmt


class BatchWriter(Protocol):
    def write(self, batch: pa.RecordBatch) -> None: ...

    def close(self) -> None: ...


def _timestamps_as_text(batch: pa.RecordBatch) -> pa.RecordBatch:
    columns = [pc.strftime(col, format=_ISO) if col.type == TIMESTAMP else col for col in batch.columns]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


class _ParquetWriter:
    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self._writer = pq.ParquetWriter(path, schema, compression="zstd")

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)

    def close(self) -> None:
        self._writer.close()


class _CsvWriter:
    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self._file = open(path, "wb")  # noqa: SIM115 - closed by close()
        text_schema = pa.schema([pa.field(f.name, pa.string() if f.type == TIMESTAMP else f.type) for f in schema])
        self._writer = pacsv.CSVWriter(self._file, text_schema,
                                       write_options=pacsv.WriteOptions(quoting_style="all_valid"))

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(_timestamps_as_text(batch))

    def close(self) -> None:
        try:
            self._writer.close()
        finally:
            self._file.close()


class _JsonLinesWriter:
    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self._file: IO[bytes] = open(path, "wb")  # noqa: SIM115 - closed by close()

    def write(self, batch: pa.RecordBatch) -> None:
        rows = _timestamps_as_text(batch).to_pylist()
        self._file.write(b"".join(orjson.dumps(row) + b"\n" for row in rows))

    def close(self) -> None:
        self._file.close()


def avro_schema(schema: pa.Schema) -> dict[str, Any]:
    def avro_type(t: pa.DataType) -> Any:
        if t == TIMESTAMP:
            return {"type": "long", "logicalType": "timestamp-micros"}
        if t == pa.date32():
            return {"type": "int", "logicalType": "date"}
        return {pa.int64(): "long", pa.bool_(): "boolean", pa.string(): "string", pa.float64(): "double"}[t]

    return {"type": "record", "name": "row", "namespace": "lakefront.raw",
            "fields": [{"name": f.name, "type": ["null", avro_type(f.type)], "default": None} for f in schema]}


class _AvroWriter:
    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self._file: IO[bytes] = open(path, "wb")  # noqa: SIM115 - closed by close()
        parsed = fastavro.parse_schema(avro_schema(schema))
        self._writer = fastavro.write.Writer(self._file, parsed, codec="deflate")

    def write(self, batch: pa.RecordBatch) -> None:
        for row in batch.to_pylist():
            self._writer.write(row)

    def close(self) -> None:
        try:
            self._writer.flush()
        finally:
            self._file.close()


_WRITERS: dict[str, type[BatchWriter]] = {"parquet": _ParquetWriter, "csv": _CsvWriter,
                                           "jsonl": _JsonLinesWriter, "avro": _AvroWriter}


def open_writer(fmt: str, path: Path, schema: pa.Schema) -> BatchWriter:
    """An incremental writer of `fmt` into the local file `path`; close it to finish the file."""
    return _WRITERS[check_format(fmt)](path, schema)  # type: ignore[call-arg]


def _text_schema(schema: pa.Schema) -> pa.Schema:
    # Timestamps and dates are ISO text in CSV and JSON Lines: read as text, then cast to their type.
    return pa.schema([pa.field(f.name, pa.string() if f.type in (TIMESTAMP, pa.date32()) else f.type)
                      for f in schema])


def _parse_timestamps(table: pa.Table, schema: pa.Schema) -> pa.Table:
    columns = [table.column(f.name).cast(f.type) for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def read_bytes(fmt: str, data: bytes, schema: pa.Schema) -> pa.Table:
    """Read one file of `fmt` back into a table of `schema` (the schema its manifest records)."""
    check_format(fmt)
    if fmt == "parquet":
        return pq.read_table(io.BytesIO(data)).cast(schema)
    if fmt == "csv":
        text = _text_schema(schema)
        table = pacsv.read_csv(io.BytesIO(data), convert_options=pacsv.ConvertOptions(
            column_types=text, strings_can_be_null=True, quoted_strings_can_be_null=False,
            include_columns=text.names))
        return _parse_timestamps(table, schema)
    if fmt == "jsonl":
        if not data:
            return schema.empty_table()
        table = pajson.read_json(io.BytesIO(data), parse_options=pajson.ParseOptions(
            explicit_schema=_text_schema(schema), unexpected_field_behavior="error"))
        return _parse_timestamps(table, schema)
    rows = list(fastavro.reader(io.BytesIO(data)))
    return pa.Table.from_pylist(rows, schema=schema)
