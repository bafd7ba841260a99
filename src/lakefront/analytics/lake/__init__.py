"""The lake: Apache Iceberg tables in the lake bucket, named by a catalog. The one owner of names and layout.

Tables (one namespace, settings.lake.namespace; the Glue database on AWS):

    raw_<table>     every version of every row the extract took from the shop's <table> (append-only; a full
                    extract replaces the table's rows in one snapshot)
    mart_<model>    the latest output of a processing model (each commit replaces the rows)

Layout, under the lake prefix (settings.lake.prefix) of the lake bucket:

    raw/<table>/data/dt=YYYY-MM-DD/<run_id>-part-NNNNN.parquet    the extract's files (dt = the run's UTC date)
    raw/<table>/metadata/                                          Iceberg metadata, manifests, manifest lists
    marts/<model>/data/, marts/<model>/metadata/                   the same for a mart (files written by pyiceberg)

Commits: a run writes its data files, then commits one snapshot per table: the catalog swaps the table's metadata
file for one naming the new snapshot, only if nobody committed since the run loaded the table (the catalog's
compare-and-swap; pyiceberg's own retry is switched off per table, ``commit.retry.num-retries = 0``, because a
retried append of an extract would add its rows twice). A killed run leaves data files no snapshot names: no reader
sees them, and `lakefront lake maintain` deletes them once older than settings.lake.retention_s. Readers read one
snapshot, so they see whole commits only; a reader keeps the snapshot it started with even if a commit lands.

What a commit records goes in its snapshot's summary, as ``lakefront.*`` properties: for an extract its mode, the
watermark after it and the run's id; for a mart the content digest, the engine and its inputs' snapshots.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lakefront.analytics.errors import CommitConflict, LakeError
from lakefront.analytics.lake.catalog import close_catalog, make_catalog, metadata_locations, warehouse
from lakefront.analytics.lake.writes import (
    PROPERTY_PREFIX,
    SchemaMismatch,
    conform,
    evolve,
    has_rows,
    replace_rows,
    summary,
)
from lakefront.data.objects import DirectoryStore, ObjectStore, make_object_store

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table

    from lakefront.settings import Settings

RAW_PREFIX = "raw_"
MART_PREFIX = "mart_"
TABLE_PROPERTIES = {
    "format-version": "2",
    # A commit that lost the race must fail, not be re-applied on the winner's snapshot (see the docstring).
    "commit.retry.num-retries": "0",
    "write.parquet.compression-codec": "zstd",
}

__all__ = ["MART_PREFIX", "RAW_PREFIX", "Commit", "CommitConflict", "Lake", "LakeError", "raw_name"]


def raw_name(table: str) -> str:
    """The lake's table of the shop's `table`."""
    return f"{RAW_PREFIX}{table}"


@dataclass(frozen=True)
class Commit:
    """A table's snapshot, as the commit that made it recorded it."""

    table: str
    snapshot_id: int
    sequence: int
    """The snapshot's sequence number: it grows by one with each commit of the table."""
    committed_at: str
    """ISO-8601 UTC, milliseconds (the snapshot's timestamp)."""
    rows: int
    files: int
    bytes: int
    metadata_location: str
    schema: pa.Schema
    properties: Mapping[str, str] = field(default_factory=dict)
    """The ``lakefront.*`` values of its summary, without the prefix."""


def _iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def arrow_schema(table: Table, schema_id: int | None = None) -> pa.Schema:
    """The table's schema (default: the current one) as the extract and the models type it (strings as string,
    not large_string)."""
    schema = table.schema() if schema_id is None else table.schemas().get(schema_id, table.schema())
    return pa.schema([pa.field(f.name, pa.string() if pa.types.is_large_string(f.type) else f.type)
                      for f in schema.as_arrow()])


class Lake:
    """The lake's catalog and bucket, opened from the settings. Not thread-safe; close() when done."""

    def __init__(self, settings: Settings, bucket: ObjectStore | None = None) -> None:
        self.settings = settings
        self.bucket = bucket if bucket is not None else make_object_store(settings, "lake")
        self.prefix = settings.lake.prefix
        self.namespace = settings.lake.namespace
        self.root = warehouse(settings, self.bucket)
        self._catalog: Catalog | None = None

    def __enter__(self) -> Lake:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            try:
                self._catalog = make_catalog(self.settings, self.bucket)
            except Exception as exc:  # the catalog's database or service: any failure means the same here
                raise LakeError(f"cannot open the lake's catalog: {_first_line(exc)}") from exc
        return self._catalog

    def reset(self) -> None:
        """Drop the catalog connection: the next use opens it again, at the URL the settings give then (after a
        failover, the new primary's)."""
        if self._catalog is not None:
            close_catalog(self._catalog)
            self._catalog = None

    def close(self) -> None:
        self.reset()
        close = getattr(self.bucket, "close", None)
        if close is not None:
            close()

    # ---- names and layout ------------------------------------------------------------------------------------

    def location(self, name: str) -> str:
        """URI of a table's directory: <root>/raw/<table> or <root>/marts/<model>."""
        if name.startswith(RAW_PREFIX):
            return f"{self.root}/raw/{name.removeprefix(RAW_PREFIX)}"
        return f"{self.root}/marts/{name}"

    def data_key(self, name: str, dt: str, run_id: str, part: int) -> str:
        """Bucket key of an extract's data file before it is committed (see the module docstring)."""
        return f"{self.prefix}/raw/{name.removeprefix(RAW_PREFIX)}/data/dt={dt}/{run_id}-part-{part:05d}.parquet"

    def table_prefix(self, name: str) -> str:
        """Bucket key prefix (ending in /) of a table's files."""
        return self.key(self.location(name)) + "/"

    @property
    def _bucket_root(self) -> str:
        return self.root.removesuffix(f"/{self.prefix}")

    def uri(self, key: str) -> str:
        return f"{self._bucket_root}/{key}"

    def key(self, uri: str) -> str:
        """The bucket key of a file the table's metadata names by URI."""
        root = self._bucket_root + "/"
        if not uri.startswith(root):
            raise LakeError(f"the lake's metadata names a file outside its bucket: {uri}")
        return uri.removeprefix(root)

    def local_path(self, key: str) -> str | None:
        """The file's path when the bucket is a local directory, else None."""
        if isinstance(self.bucket, DirectoryStore):
            return str(self.bucket.root / key)
        return None

    # ---- reading ---------------------------------------------------------------------------------------------

    def load(self, name: str) -> Table | None:
        """The table as its current metadata file describes it, or None if the catalog has no such table."""
        from pyiceberg.exceptions import NoSuchTableError

        try:
            return self.catalog.load_table((self.namespace, name))
        except NoSuchTableError:
            return None
        except LakeError:
            raise
        except Exception as exc:
            raise LakeError(f"cannot read table {name}: {_first_line(exc)}") from exc

    def commit_of(self, table: Table, snapshot_id: int | None = None) -> Commit | None:
        """The current (or the given) snapshot of a loaded table, or None if it has none."""
        snapshot = table.current_snapshot() if snapshot_id is None else table.snapshot_by_id(snapshot_id)
        if snapshot is None:
            return None
        summary = snapshot.summary.additional_properties if snapshot.summary else {}
        props = {k.removeprefix(PROPERTY_PREFIX): v for k, v in summary.items() if k.startswith(PROPERTY_PREFIX)}
        name = table.name()[-1]
        return Commit(name, snapshot.snapshot_id, int(snapshot.sequence_number or 0), _iso_ms(snapshot.timestamp_ms),
                      int(summary.get("total-records", 0)), int(summary.get("total-data-files", 0)),
                      int(summary.get("total-files-size", 0)), table.metadata_location,
                      arrow_schema(table, snapshot.schema_id), props)

    def last_commit(self, name: str) -> Commit | None:
        table = self.load(name)
        return None if table is None else self.commit_of(table)

    def history(self, name: str) -> list[Commit]:
        """Every snapshot the table still keeps, oldest first."""
        table = self.load(name)
        if table is None:
            return []
        found = (self.commit_of(table, s.snapshot_id) for s in table.snapshots())
        return [c for c in found if c is not None]

    def scan_keys(self, name: str) -> tuple[list[str], Commit] | None:
        """The bucket keys of the data files of the table's current snapshot, and the commit; None if none.

        The lake's tables never have delete files (nothing deletes rows; a replacement rewrites the table), so
        reading these Parquet files by column name is reading the snapshot: what engines without an Iceberg
        runtime (Spark here) do.
        """
        table = self.load(name)
        commit = None if table is None else self.commit_of(table)
        if table is None or commit is None:
            return None
        keys = []
        for task in table.scan(snapshot_id=commit.snapshot_id).plan_files():
            if task.delete_files:
                raise LakeError(f"table {name} has delete files, which Lakefront never writes")
            keys.append(self.key(task.file.file_path))
        return keys, commit

    def read(self, name: str, snapshot_id: int | None = None) -> pa.Table:
        """A snapshot's rows (default: the current one) with the table's current schema; empty without columns
        when the table does not exist or has no snapshot."""
        table = self.load(name)
        if table is None or table.current_snapshot() is None:
            return pa.table({})
        rows = table.scan(snapshot_id=snapshot_id).to_arrow()
        return rows.cast(pa.schema([pa.field(f.name, f.type) for f in arrow_schema(table)]))

    def tables(self) -> dict[str, str]:
        """{table: its current metadata file} of every table in the lake's namespace: one catalog request."""
        try:
            return metadata_locations(self.catalog, self.namespace)
        except LakeError:
            raise
        except Exception as exc:
            raise LakeError(f"cannot list the lake's tables: {_first_line(exc)}") from exc

    def marts(self) -> dict[str, str]:
        return {name: location for name, location in self.tables().items() if name.startswith(MART_PREFIX)}

    # ---- writing ---------------------------------------------------------------------------------------------

    def create(self, name: str, schema: pa.Schema) -> Table:
        """The table, created empty with `schema` if the catalog does not have it yet."""
        found = self.load(name)
        if found is not None:
            return found
        from pyiceberg.exceptions import TableAlreadyExistsError

        try:
            return self.catalog.create_table((self.namespace, name), schema=schema, location=self.location(name),
                                             properties=TABLE_PROPERTIES)
        except TableAlreadyExistsError:
            table = self.load(name)
            assert table is not None
            return table

    def commit_files(self, base: Table, keys: list[str], schema: pa.Schema, *, replace: bool,
                     properties: Mapping[str, Any]) -> Commit | None:
        """Commit Parquet files the caller stored (keys) as one snapshot of `base`: added to its rows, or
        replacing them (`replace`). Columns of `schema` the table lacks are added in the same commit.

        `base` is the table as loaded when the run started: if anyone committed since, CommitConflict. None when
        there was nothing to commit (no files, nothing to replace).
        """
        from pyiceberg.expressions import AlwaysTrue

        def change(tx: Any) -> None:
            evolve(tx, base, schema)
            if replace and has_rows(base):
                # The commit's record goes on its last snapshot: the files', or the delete's if there are none.
                tx.delete(AlwaysTrue(), snapshot_properties={} if keys else summary(properties))
            if keys:
                tx.add_files([self.uri(key) for key in keys], snapshot_properties=summary(properties),
                             check_duplicate_files=False)

        return self._commit(base, change)

    def commit_rows(self, name: str, rows: pa.Table, properties: Mapping[str, Any]) -> Commit | None:
        """Replace a table's rows (a mart's output) with `rows`, whose schema becomes the table's."""
        base = self.create(name, rows.schema)

        def change(tx: Any) -> None:
            conform(tx, base, rows.schema)
            replace_rows(tx, base, rows, properties)

        try:
            return self._commit(base, change)
        except SchemaMismatch:
            # A column changed type (a model was edited): the table starts again with the model's schema.
            self.catalog.drop_table((self.namespace, name))
            fresh = self.create(name, rows.schema)
            return self._commit(fresh, lambda tx: replace_rows(tx, fresh, rows, properties))

    def _commit(self, base: Table, change: Any) -> Commit | None:
        from pyiceberg.exceptions import CommitFailedException, ValidationError, ValidationException

        name = base.name()[-1]
        try:
            tx = base.transaction()
            change(tx)
            table = tx.commit_transaction()
        except (CommitFailedException, ValidationException) as exc:
            raise CommitConflict(f"another run committed {name} while this one ran ({_first_line(exc)}); "
                                 "nothing committed, run it again") from None
        except ValidationError as exc:
            raise SchemaMismatch(str(exc)) from None
        except (SchemaMismatch, LakeError):
            raise
        except Exception as exc:
            raise LakeError(f"cannot commit {name}: {_first_line(exc)}") from exc
        return self.commit_of(table)

    def drop(self, name: str) -> None:
        """Forget a table (its files stay until `lake maintain` finds them unreferenced)."""
        from pyiceberg.exceptions import NoSuchTableError

        with contextlib.suppress(NoSuchTableError):
            self.catalog.drop_table((self.namespace, name))

    def iter_commits(self) -> Iterator[Commit]:
        for name in sorted(self.tables()):
            commit = self.last_commit(name)
            if commit is not None:
                yield commit


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
