"""The terminal side of `lakefront sql`: tables on stdout, files in the lake's formats, and the interactive shell.

The shell reads statements ending in ``;`` (several lines each if need be), runs each through the read-only
session and prints its rows; ``.tables`` lists the lake's tables, ``.quit`` (or end of input) leaves. An error is
one line and the shell goes on.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa
import typer

from lakefront.analytics.errors import QueryError
from lakefront.analytics.sql import LakeSQL, QueryResult

PROMPT, MORE = "lake> ", "  ... "


def show(result: QueryResult, max_rows: int) -> None:
    from rich.console import Console
    from rich.table import Table

    table = result.table
    out = Table(show_edge=False, header_style="bold")
    for name in table.column_names:
        out.add_column(name)
    for row in table.slice(0, max_rows).to_pylist():
        out.add_row(*("NULL" if value is None else str(value) for value in row.values()))
    console = Console(soft_wrap=True)
    if table.num_columns:
        console.print(out)
    more = f", {max_rows:,} shown" if table.num_rows > max_rows else ""
    typer.echo(f"({table.num_rows:,} rows{more}, {result.seconds:.3f} s)")


def write(table: pa.Table, fmt: str, path: Path) -> None:
    from lakefront.analytics.formats import TIMESTAMP, open_writer

    # The lake's own types in files: DuckDB names UTC "Etc/UTC" and may give large strings.
    schema = pa.schema([pa.field(f.name, TIMESTAMP if pa.types.is_timestamp(f.type) and f.type.tz else
                                 pa.string() if pa.types.is_large_string(f.type) else f.type) for f in table.schema])
    table = table.cast(schema)
    writer = open_writer(fmt, path, schema)
    try:
        for batch in table.to_batches(max_chunksize=50_000):
            writer.write(batch)
    finally:
        writer.close()


def run_shell(session: LakeSQL, max_rows: int) -> None:
    interactive = sys.stdin.isatty()
    if interactive:
        typer.echo(f"Read-only SQL over the lake ({len(session.tables)} tables; .tables lists them, .quit leaves).")
    pending: list[str] = []
    while True:
        if interactive:
            typer.echo(MORE if pending else PROMPT, nl=False)
        line = sys.stdin.readline()
        if not line:
            break
        text = line.strip()
        if not pending and text in (".quit", ".exit"):
            break
        if not pending and text == ".tables":
            for name in sorted(session.tables):
                typer.echo(name)
            continue
        if text:
            pending.append(line)
        if pending and text.endswith(";"):
            statement, pending = "".join(pending), []
            try:
                show(session.query(statement), max_rows)
            except QueryError as exc:
                typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
