"""The object store (the S3 role): the port and its rules (base.py), a local directory (directory.py) and an
S3 API (s3.py: SeaweedFS locally, Amazon S3 on AWS), chosen per bucket by `make_object_store`.

Importing this package never loads boto3: s3.py is imported only when an S3 store is made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakefront.data.objects.base import AREAS, Area, ObjectInfo, ObjectStore, check_key, content_type_for
from lakefront.data.objects.directory import DirectoryStore

if TYPE_CHECKING:
    from lakefront.data.objects.s3 import S3Store
    from lakefront.settings import Settings

__all__ = ["AREAS", "Area", "DirectoryStore", "ObjectInfo", "ObjectStore", "check_key", "content_type_for",
           "make_object_store", "s3_store"]


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
    from lakefront.data.objects.s3 import S3Store

    # Empty keys mean "the environment's credentials": an instance role on EC2/EMR, a profile locally.
    access_key = settings.objects.access_key or None
    secret_key = settings.objects.secret_key.get_secret_value() or None
    return S3Store(settings.s3_endpoint, bucket, settings.objects.region, access_key, secret_key,
                   settings.objects.presign_ttl_s)
