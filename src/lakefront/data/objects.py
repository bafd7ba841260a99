"""The object store port (the S3 role) and its local-directory implementation.

The store is three buckets, one per area, as the AWS design keeps them apart: product images (the only objects
either tier serves), the lake, and backups. A store object is one bucket: nothing read or written through the
images store can name a lake key, so a bug or a crafted key in the public media path cannot reach the lake.

Every implementation raises the same exceptions: FileNotFoundError for a missing key,
ValueError for a key that is not a plain relative path. Writes are atomic: a reader sees
the old object or the new one, never part of one.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, get_args

if TYPE_CHECKING:
    from lakefront.data.objects_s3 import S3Store
    from lakefront.settings import Settings

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


class DirectoryStore:
    """Objects as files under a root directory; the content type follows the key's extension."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
        try:
            with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
                shutil.copyfileobj(src, out, 1024 * 1024)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> tuple[bytes, str]:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        return path.read_bytes(), content_type_for(key)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        # Walk only the directory the prefix names (the lake holds many files; the images bucket too).
        top = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        for path in sorted(top.rglob("*")):
            if not path.is_file() or path.name.startswith(".tmp-"):
                continue
            key = path.relative_to(self.root).as_posix()
            if key.startswith(prefix):
                stat = path.stat()
                yield ObjectInfo(key=key, size=stat.st_size, content_type=content_type_for(key),
                                 modified=stat.st_mtime)


def make_object_store(settings: Settings, area: Area) -> ObjectStore:
    """The store of one area's bucket, as the settings' profile asks: a directory, or an S3 API (SeaweedFS, S3)."""
    if area not in AREAS:
        raise ValueError(f"unknown object-store area {area!r}: one of {', '.join(AREAS)}")
    bucket = settings.objects.buckets[area]
    if settings.objects_backend == "s3":
        return s3_store(settings, bucket)
    # A bucket is its own directory: check_key refuses "..", so no key of one reaches a sibling.
    return DirectoryStore(settings.objects_root / bucket)


def s3_store(settings: Settings, bucket: str) -> S3Store:
    """A client of `bucket` at the settings' S3 endpoint with their credentials (areas: make_object_store)."""
    # Imported here so the embedded profile never loads boto3 (about 0.35 s and 35 MB per process).
    from lakefront.data.objects_s3 import S3Store

    # Empty keys mean "the environment's credentials": an instance role on EC2/EMR, a profile locally.
    access_key = settings.objects.access_key or None
    secret_key = settings.objects.secret_key.get_secret_value() or None
    return S3Store(settings.s3_endpoint, bucket, settings.objects.region, access_key, secret_key,
                   settings.objects.presign_ttl_s)
