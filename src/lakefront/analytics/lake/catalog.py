"""The Iceberg catalog the lake's tables are named in, and where their files live.

The catalog is the commit point: it holds each table's current metadata file, and a commit swaps it for a new
one only if it is still the one the writer started from (SQL: ``UPDATE ... WHERE metadata_location = old``;
Glue: the table's version). What a table's files are, its schema and its snapshots live in the metadata, in
the lake's bucket, so any Iceberg reader (DuckDB, Spark with the Iceberg runtime, Athena, Trino, Snowflake)
reads the lake with the catalog's name for a table and nothing of Lakefront.

- ``sql`` (embedded: a SQLite file under var/lake/; services: the shop's MariaDB, whose standby then carries
  the catalog too): pyiceberg's SqlCatalog. Its catalog name is the lake's prefix, so lakes under different
  prefixes of one bucket share a catalog database without sharing a table.
- ``glue`` (aws): the Glue Data Catalog, namespace = the Glue database Athena and QuickSight read.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

from lakefront.data.endpoints import writer_url
from lakefront.data.objects import DirectoryStore, ObjectStore

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

    from lakefront.settings import Settings


def warehouse(settings: Settings, bucket: ObjectStore) -> str:
    """URI of the lake's root: file:// for the directory store, s3:// otherwise."""
    if isinstance(bucket, DirectoryStore):
        return f"file://{bucket.root.resolve()}/{settings.lake.prefix}"
    return f"s3://{settings.objects.buckets['lake']}/{settings.lake.prefix}"


def file_io_properties(settings: Settings) -> dict[str, str]:
    """pyiceberg FileIO settings: pyarrow's filesystems, S3 with the object store's endpoint and keys."""
    props = {"py-io-impl": "pyiceberg.io.pyarrow.PyArrowFileIO"}
    if settings.objects_backend == "s3":
        objects = settings.objects
        props["s3.region"] = objects.region
        if objects.access_key:  # else the environment's credentials (an instance role on AWS)
            props["s3.access-key-id"] = objects.access_key
            props["s3.secret-access-key"] = objects.secret_key.get_secret_value()
        if settings.s3_endpoint:
            props["s3.endpoint"] = settings.s3_endpoint
            props["s3.force-virtual-addressing"] = "false"
    return props


def make_catalog(settings: Settings, bucket: ObjectStore) -> Catalog:
    """The catalog the settings name, with the lake's namespace created if it is missing."""
    # pyiceberg logs every FileIO it loads at INFO (a dozen lines a run): the lake logs its own events.
    logging.getLogger("pyiceberg").setLevel(logging.WARNING)
    props = file_io_properties(settings) | {"warehouse": warehouse(settings, bucket)}
    catalog: Catalog
    if settings.lake_catalog == "glue":
        from pyiceberg.catalog.glue import GlueCatalog

        if settings.aws.region:
            props["glue.region"] = settings.aws.region
        catalog = GlueCatalog(settings.lake.prefix, **props)
    else:
        catalog = _sql_catalog(settings, props)
    _ensure_namespace(catalog, settings.lake.namespace)
    return catalog


def _ensure_namespace(catalog: Catalog, namespace: str) -> None:
    # Look before creating: on AWS the namespace is the Glue database the CDK app made, and the roles that use
    # it may read it but not create databases (create_namespace_if_not_exists would ask to).
    from pyiceberg.exceptions import NoSuchNamespaceError

    try:
        catalog.load_namespace_properties(namespace)
    except NoSuchNamespaceError:
        catalog.create_namespace_if_not_exists(namespace)


def _sql_catalog(settings: Settings, props: dict[str, str]) -> Catalog:
    from pyiceberg.catalog.sql import SqlCatalog
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    url = settings.lake_catalog_url or writer_url(settings)
    if url.startswith("sqlite:///"):
        from pathlib import Path

        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        catalog = SqlCatalog(settings.lake.prefix, uri=url, **props)
    except (OperationalError, ProgrammingError, IntegrityError):
        # Two processes creating the catalog's tables at once: the loser finds them made by the winner.
        catalog = SqlCatalog(settings.lake.prefix, uri=url, **props)
    if catalog.engine.dialect.name == "sqlite":
        # WAL: the app instances' freshness checks read while a pipeline run commits, without "database is
        # locked". The mode is the file's, set once.
        with catalog.engine.connect() as conn, contextlib.suppress(OperationalError):
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    return catalog


def metadata_locations(catalog: Catalog, namespace: str) -> dict[str, str]:
    """{table: current metadata file} of every table in `namespace`, in one catalog request where it can."""
    from pyiceberg.catalog.sql import IcebergTables, SqlCatalog

    if isinstance(catalog, SqlCatalog):
        from sqlalchemy import select

        query = select(IcebergTables.table_name, IcebergTables.metadata_location).where(
            IcebergTables.catalog_name == catalog.name, IcebergTables.table_namespace == namespace)
        with catalog.engine.connect() as conn:
            return {str(name): str(location) for name, location in conn.execute(query) if location}
    glue: Any = getattr(catalog, "glue", None)
    if glue is not None:
        found: dict[str, str] = {}
        for page in glue.get_paginator("get_tables").paginate(DatabaseName=namespace):
            for table in page["TableList"]:
                location = table.get("Parameters", {}).get("metadata_location")
                if location:
                    found[table["Name"]] = location
        return found
    return {name: catalog.load_table((namespace, name)).metadata_location
            for _, name in catalog.list_tables(namespace)}


def close_catalog(catalog: Catalog) -> None:
    engine = getattr(catalog, "engine", None)
    if engine is not None:
        engine.dispose()
