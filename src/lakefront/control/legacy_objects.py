"""Objects of the one-store layout, moved into their areas' buckets when `lakefront up` starts.

Before product images, the lake and backups had a bucket each, one store held them all: the directory
store at the root of var/objects (products/, demo/, lake/), the managed SeaweedFS in one bucket named
objects.bucket. A var/ made then would start with an empty images bucket under a database whose products
point at images, so `up` moves each part into its area, logged, before anything reads or writes the store:

- directory: each part is one rename (atomic); a part whose place in the bucket is already taken (the new
  layout wrote there first) is left where it is, with a warning, and nothing is deleted.
- managed SeaweedFS: key by key, a server-side copy, then the delete of the old key; a key the bucket already
  has keeps the bucket's version. An interrupted move resumes at the next start. The old bucket is removed
  once empty, so a later start costs one HEAD; objects of no part stay in it, with a warning.

An S3 endpoint given in the settings (Amazon S3) is never touched: its buckets are the deployment's.
"""

from __future__ import annotations

import logging
import os

from lakefront.data.objects import Area, s3_store
from lakefront.settings import Settings

log = logging.getLogger("lakefront.control")

_READY_PROBES = "lakefront-ready/"
"""Where the previous SeaweedFS readiness probe wrote (and deleted) its object: disposable."""


def legacy_parts(settings: Settings) -> list[tuple[str, Area]]:
    """The top-level prefixes of the one-store layout and the area each belongs to."""
    return [("products", "images"), ("demo", "images"), (settings.lake.prefix.split("/")[0], "lake")]


def migrate_legacy_objects(settings: Settings) -> None:
    """Move what the one-store layout left into the buckets of this one (see the module docstring)."""
    if settings.objects_backend == "directory":
        _migrate_directory(settings)
    elif "seaweedfs" in settings.managed_servers():
        _migrate_bucket(settings)


def _migrate_directory(settings: Settings) -> None:
    root, buckets = settings.objects_root, settings.objects.buckets
    for part, area in legacy_parts(settings):
        source = root / part
        if part in buckets.values() or not source.is_dir():  # a bucket of this layout, or nothing to move
            continue
        target = root / buckets[area] / part
        if target.exists():
            log.warning("objects: left %s in place: %s already exists", source, target)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(source, target)
        log.info("objects: moved %s to %s (the %s bucket)", source, target, area)


def _migrate_bucket(settings: Settings) -> None:
    name, buckets = settings.objects.bucket, settings.objects.buckets
    if name in buckets.values():
        return
    with s3_store(settings, name) as old:
        if not old.bucket_exists():
            return
        for part, area in legacy_parts(settings):
            with s3_store(settings, buckets[area]) as target:
                present = {info.key for info in target.list(f"{part}/")}
                moved = 0
                for info in list(old.list(f"{part}/")):  # listed first: deleting while paging is not portable
                    if info.key not in present:
                        target.copy_from(name, info.key)
                    old.delete(info.key)
                    moved += 1
            if moved:
                log.info("objects: moved %d objects under %s/ from bucket %s to bucket %s (the %s bucket)",
                         moved, part, name, target.bucket, area)
        for info in list(old.list(_READY_PROBES)):
            old.delete(info.key)
        left = sum(1 for _ in old.list())
        if left:
            log.warning("objects: bucket %s still holds %d objects of no area; left in place", name, left)
            return
        old.delete_bucket()
        log.info("objects: removed the empty bucket %s of the one-store layout", name)
