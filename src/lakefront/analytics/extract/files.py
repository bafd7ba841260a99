"""An extract run's data files: Parquet, written one record batch at a time, each stored once complete.

A run of a big table rolls to a new file every ``settings.extract.file_rows`` rows. Files are written to a local
temp file (memory stays bounded by one batch) and stored with one put each, a few at once: daily partitions make
many files, and overlapping their uploads hides the object store's latency. Nothing stored here is visible to a
reader until the lake commits the run's snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lakefront.data.objects import ObjectStore

UPLOADS_IN_FLIGHT = 8
PARQUET = "application/vnd.apache.parquet"


@dataclass
class _Part:
    key: str
    path: Path
    writer: pq.ParquetWriter
    rows: int = 0


@dataclass
class TableFiles:
    """The data files of one table's run. `key_for(part)` names each part's key in the bucket."""

    bucket: ObjectStore
    key_for: Callable[[int], str]
    schema: pa.Schema
    file_rows: int
    tmp: Path
    pool: ThreadPoolExecutor
    keys: list[str] = field(default_factory=list)
    bytes: int = 0
    uploads: list[Future[None]] = field(default_factory=list)
    part: _Part | None = None

    def add(self, batch: pa.RecordBatch) -> None:
        if self.part is None or self.part.rows >= self.file_rows:
            self._finish_part()
            key = self.key_for(len(self.keys) + 1)
            path = self.tmp / key.replace("/", "_")
            # zstd, and no Iceberg field ids: the lake adds the files by name (Iceberg's name mapping).
            self.part = _Part(key, path, pq.ParquetWriter(path, self.schema, compression="zstd"))
            self.keys.append(key)
        self.part.writer.write_batch(batch)
        self.part.rows += batch.num_rows

    def _finish_part(self) -> None:
        if self.part is None:
            return
        part, self.part = self.part, None
        part.writer.close()
        self.bytes += part.path.stat().st_size
        # The bound keeps finished-but-unsent files (on local disk, not in memory) to a handful.
        if len(self.uploads) >= UPLOADS_IN_FLIGHT:
            self.uploads.pop(0).result()
        self.uploads.append(self.pool.submit(self._upload, part))

    def _upload(self, part: _Part) -> None:
        try:
            self.bucket.put_file(part.key, part.path, PARQUET)
        finally:
            part.path.unlink(missing_ok=True)

    def finish(self) -> None:
        self._finish_part()
        while self.uploads:
            self.uploads.pop(0).result()

    def abort(self) -> None:
        if self.part is not None:
            self.part.writer.close()
            self.part.path.unlink(missing_ok=True)
            self.part = None
        for upload in self.uploads:
            upload.cancel()
        wait(self.uploads)
