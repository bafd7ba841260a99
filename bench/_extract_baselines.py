"""One extract contender in a process of its own, so that its peak memory is its alone.

Run by bench/extract_bench.py as `python bench/_extract_baselines.py <contender> <spec.json>`; writes a
JSON result next to the spec. Every contender reads the whole order_lines table from MariaDB and leaves
zstd Parquet in the S3 bucket under its own prefix:

- pandas: `pandas.read_sql` through SQLAlchemy (the project's PyMySQL URL), `DataFrame.to_parquet` to a
  local file, boto3 upload: the common "export a table to S3" recipe.
- connectorx: `connectorx.read_sql(..., return_type="arrow")`, `pyarrow.parquet.write_table` to a local
  file, boto3 upload.
- lakefront: `lakefront.analytics.extract.run_extract(..., full=True)`, a full copy committed to the lake's
  Iceberg table.

Imports happen inside each contender: a process pays only for the libraries its recipe needs, and the
resident size after them is reported separately from the peak.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

QUERY = "SELECT * FROM order_lines"


def _status_mb(field: str) -> float:
    # VmRSS now / VmHWM (the high-water mark) of this process, from the kernel's own accounting.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _s3_client(spec: dict[str, Any]) -> Any:
    import boto3
    from botocore.config import Config

    # The same client shape as lakefront.data.objects.s3: path style and SigV4, which SeaweedFS needs.
    config = Config(signature_version="s3v4", s3={"addressing_style": "path"}, region_name=spec["region"])
    return boto3.session.Session(aws_access_key_id=spec["access_key"], aws_secret_access_key=spec["secret_key"],
                                 region_name=spec["region"]).client("s3", endpoint_url=spec["endpoint"],
                                                                    config=config)


def _upload(spec: dict[str, Any], path: Path, key: str) -> int:
    client = _s3_client(spec)
    try:
        client.upload_file(str(path), spec["bucket"], key)
    finally:
        client.close()
    size = path.stat().st_size
    path.unlink()
    return size


def pandas_recipe(spec: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    import boto3  # noqa: F401  (imported before the clock starts, like the other libraries)
    import pandas as pd
    import sqlalchemy as sa

    def run() -> dict[str, Any]:
        engine = sa.create_engine(spec["writer_url"])
        try:
            frame = pd.read_sql(QUERY, engine)
        finally:
            engine.dispose()
        path = Path(spec["work_dir"]) / "order_lines.parquet"
        frame.to_parquet(path, compression="zstd", index=False)
        rows = len(frame)
        key = f"{spec['prefix']}/order_lines.parquet"
        return {"rows": rows, "keys": [key], "bytes": _upload(spec, path, key)}

    return run


def connectorx_recipe(spec: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    import boto3  # noqa: F401
    import connectorx as cx
    import pyarrow.parquet as pq

    def run() -> dict[str, Any]:
        table = cx.read_sql(spec["cx_url"], QUERY, return_type="arrow")
        path = Path(spec["work_dir"]) / "order_lines.parquet"
        pq.write_table(table, path, compression="zstd")
        rows = table.num_rows
        key = f"{spec['prefix']}/order_lines.parquet"
        return {"rows": rows, "keys": [key], "bytes": _upload(spec, path, key)}

    return run


def connectorx_stream_recipe(spec: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    import boto3  # noqa: F401
    import connectorx as cx
    import pyarrow.parquet as pq

    def run() -> dict[str, Any]:
        # Not one of the contenders: ConnectorX's batch stream, written batch by batch, to show what a
        # columnar driver does when memory is bounded the way the extractor bounds it (settings.extract.batch_rows).
        reader = cx.read_sql(spec["cx_url"], QUERY, return_type="arrow_stream", batch_size=50_000)
        path = Path(spec["work_dir"]) / "order_lines.parquet"
        rows = 0
        with pq.ParquetWriter(path, reader.schema, compression="zstd") as writer:
            for batch in reader:
                writer.write_batch(batch)
                rows += batch.num_rows
        key = f"{spec['prefix']}/order_lines.parquet"
        return {"rows": rows, "keys": [key], "bytes": _upload(spec, path, key)}

    return run


def lakefront_recipe(spec: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    from lakefront.settings import Settings

    # By name: the extractor is built alongside this benchmark, and the benchmark runs the others without it.
    run_extract = importlib.import_module("lakefront.analytics.extract").run_extract

    settings = Settings(
        profile="services",
        var_dir=Path(spec["work_dir"]) / "var",
        db={"writer_url": spec["writer_url"]},
        objects={"backend": "s3", "s3_endpoint": spec["endpoint"], "lake_bucket": spec["bucket"],
                 "region": spec["region"], "access_key": spec["access_key"], "secret_key": spec["secret_key"]},
        lake={"prefix": spec["prefix"]}, extract={"tables": ["order_lines"]},
    )

    def run() -> dict[str, Any]:
        # Into the lake's raw_order_lines Iceberg table (Parquet files, one commit), catalog in the same MariaDB.
        results = run_extract(settings, tables=["order_lines"], full=True)
        mine = [r for r in results if r.table == "order_lines"]
        files = [f for r in mine for f in (r.files if isinstance(r.files, list | tuple) else [])]
        return {"rows": sum(r.rows for r in mine), "keys": [str(f) for f in files],
                "bytes": sum(r.bytes for r in mine), "mode": ",".join(str(r.mode) for r in mine),
                "reported_seconds": sum(r.seconds for r in mine)}

    return run


RECIPES: dict[str, Callable[[dict[str, Any]], Callable[[], dict[str, Any]]]] = {
    "pandas": pandas_recipe, "connectorx": connectorx_recipe, "lakefront": lakefront_recipe,
    "connectorx-stream": connectorx_stream_recipe,
}


def main() -> None:
    name, spec_path = sys.argv[1], Path(sys.argv[2])
    spec = json.loads(spec_path.read_text())
    run = RECIPES[name](spec)
    base_mb = _status_mb("VmRSS")
    started = time.perf_counter()
    outcome = run()
    seconds = time.perf_counter() - started
    outcome |= {"seconds": seconds, "base_rss_mb": base_mb, "hwm_mb": _status_mb("VmHWM")}
    (spec_path.parent / f"{name}.result.json").write_text(json.dumps(outcome))


if __name__ == "__main__":
    main()
