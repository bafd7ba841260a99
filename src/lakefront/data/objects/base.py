"""The object store port (the S3 role): what every implementation offers, and the rules they share.

The store is three buckets, one per area, as the AWS design keeps them apart: product images (the only objects
either tier serves), the lake, and backups. A store object is one bucket: nothing read or written through the
images store can name a lake key, so a bug or a crafted key in the public media path cannot reach the lake.

Every implementation raises the same exceptions: FileNotFoundError for a missing key,
ValueError for a key that is not a plain relative path. Writes are atomic: a reader sees
the old object or the new one, never part of one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, get_args

# A segment may start with "_" (as Hive and Spark name metadata, e.g. a lake's old _manifests/) but never with ".":
# dot names are the directory store's temp files, and ".." would escape the root.
_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._=\-]*(/[A-Za-z0-9_][A-Za-z0-9._=\-]*)*$")


Area = Literal["images", "lake", "backups"]
"""What a bucket holds: product images, the lake (its Iceberg tables: raw extracts, marts), or database backups."""
AREAS: tuple[Area, ...] = get_args(Area)


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    content_type: str
    modified: float = 0.0
    """When it was last written, in seconds since the epoch (the lake's maintenance tells old orphans by it)."""


class ObjectStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        """Store a local file's bytes under `key` in one atomic step, without reading it all into memory."""
        ...

    def get(self, key: str) -> tuple[bytes, str]:
        """Return (bytes, content type); FileNotFoundError if absent."""
        ...

    def delete(self, key: str) -> None: ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]: ...


def check_key(key: str) -> str:
    if len(key) > 512 or not _KEY.match(key) or ".." in key.split("/"):
        raise ValueError(f"invalid object key {key!r}")
    return key


_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
          ".json": "application/json", ".parquet": "application/vnd.apache.parquet", ".csv": "text/csv",
          ".jsonl": "application/x-ndjson", ".avro": "application/avro"}


def content_type_for(key: str) -> str:
    return _TYPES.get(Path(key).suffix.lower(), "application/octet-stream")
