"""A var/ of the one-store layout (images and the lake side by side) has its objects moved into the areas'
buckets when `lakefront up` prepares the data: the directory store, and the managed SeaweedFS."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakefront.control.legacy_objects import migrate_legacy_objects
from lakefront.control.prepare import prepare_data
from lakefront.data.objects import AREAS, Area, make_object_store
from lakefront.data.objects.s3 import S3Store
from lakefront.servers import managed as managed_servers
from lakefront.servers.seaweedfs import SeaweedFSServer, pick_s3_port
from lakefront.settings import Settings
from support.s3 import ACCESS_KEY, REGION, SECRET_KEY

UPLOAD = "products/ab/ab0123456789abcdef0123456789abcd.jpg"
DEMO = "demo/products/KIT-000001-thumb.jpg"
RAW = "lake/raw/customers/dt=2026-01-01/20260101T000000Z-0badc0de-part-00000.parquet"
MANIFEST = "lake/_manifests/raw/customers/00000001-20260101T000000Z-0badc0de.json"
LEGACY: dict[str, Area] = {UPLOAD: "images", DEMO: "images", RAW: "lake", MANIFEST: "lake"}


def contents(settings: Settings) -> dict[Area, dict[str, bytes]]:
    """Every object of every area, read through the area's store."""
    found: dict[Area, dict[str, bytes]] = {}
    for area in AREAS:
        store = make_object_store(settings, area)
        try:
            found[area] = {info.key: store.get(info.key)[0] for info in store.list()}
        finally:
            close = getattr(store, "close", None)
            if close is not None:
                close()
    return found


def expected() -> dict[Area, dict[str, bytes]]:
    moved: dict[Area, dict[str, bytes]] = {area: {} for area in AREAS}
    for key, area in LEGACY.items():
        moved[area][key] = key.encode()
    return moved


# The directory store


def legacy_directory(var_dir: Path) -> Path:
    root = var_dir / "objects"
    for key in LEGACY:
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(key.encode())
    return root


def test_up_moves_a_one_store_directory_into_the_areas_directories(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(var_dir=tmp_path)
    root = legacy_directory(tmp_path)

    with caplog.at_level(logging.INFO, logger="lakefront.control"):
        prepare_data(settings, seed=False)

    assert contents(settings) == expected()
    assert sorted(path.name for path in root.iterdir()) == ["lakefront-backups", "lakefront-images",
                                                           "lakefront-lake"]
    assert f"objects: moved {root / 'lake'} to {root / 'lakefront-lake' / 'lake'} (the lake bucket)" in caplog.text


def test_moving_the_directory_layout_again_changes_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(var_dir=tmp_path)
    legacy_directory(tmp_path)
    migrate_legacy_objects(settings)

    with caplog.at_level(logging.INFO, logger="lakefront.control"):
        migrate_legacy_objects(settings)

    assert contents(settings) == expected()
    assert "objects:" not in caplog.text


def test_a_part_whose_place_in_its_bucket_is_taken_is_left_where_it_is(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(var_dir=tmp_path)
    root = legacy_directory(tmp_path)
    make_object_store(settings, "lake").put("lake/raw/orders/new.parquet", b"new layout", "application/octet-stream")

    with caplog.at_level(logging.INFO, logger="lakefront.control"):
        migrate_legacy_objects(settings)

    assert (root / RAW).read_bytes() == RAW.encode()  # nothing deleted, nothing mixed into the new lake
    assert contents(settings)["lake"] == {"lake/raw/orders/new.parquet": b"new layout"}
    assert set(contents(settings)["images"]) == {UPLOAD, DEMO}
    assert f"left {root / 'lake'} in place" in caplog.text


# The managed SeaweedFS


@pytest.fixture
def managed(tmp_path: Path) -> Iterator[tuple[Settings, SeaweedFSServer]]:
    """The services profile's own SeaweedFS under var/seaweedfs, started as `up` starts it."""
    settings = Settings(profile="services", var_dir=tmp_path, objects={  # type: ignore[arg-type]
        "s3_port": pick_s3_port(), "access_key": ACCESS_KEY, "secret_key": SECRET_KEY})
    assert "seaweedfs" in settings.managed_servers()
    server = managed_servers.start(settings, "object_store")
    try:
        yield settings, server
    finally:
        server.kill()


def legacy_bucket(settings: Settings, extra: dict[str, bytes] | None = None) -> S3Store:
    """The one bucket (named objects.bucket) the previous version kept everything in, filled as it left it."""
    store = S3Store(settings.s3_endpoint, settings.objects.bucket, REGION, ACCESS_KEY, SECRET_KEY)
    store.ensure_bucket()
    for key, data in {**{key: key.encode() for key in LEGACY}, **(extra or {})}.items():
        store.put(key, data, "image/jpeg" if key.endswith(".jpg") else "application/octet-stream")
    return store


def test_up_starts_seaweedfs_with_the_bucket_of_every_area(managed: tuple[Settings, SeaweedFSServer]) -> None:
    settings, _ = managed

    for bucket in settings.objects.buckets.values():
        with S3Store(settings.s3_endpoint, bucket, REGION, ACCESS_KEY, SECRET_KEY) as client:
            assert client.bucket_exists(), bucket


def test_the_one_bucket_of_the_managed_seaweedfs_is_moved_into_the_areas_buckets_and_removed(
        managed: tuple[Settings, SeaweedFSServer], caplog: pytest.LogCaptureFixture) -> None:
    settings, _ = managed
    with legacy_bucket(settings, {"lakefront-ready/probe-1-2": b"ready"}) as old:
        with caplog.at_level(logging.INFO, logger="lakefront.control"):
            migrate_legacy_objects(settings)

        assert contents(settings) == expected()
        assert not old.bucket_exists()
    with S3Store(settings.s3_endpoint, settings.objects.buckets["images"], REGION, ACCESS_KEY, SECRET_KEY) as images:
        assert images.get(UPLOAD) == (UPLOAD.encode(), "image/jpeg")  # the content type came along
    assert "objects: moved 2 objects under lake/ from bucket lakefront to bucket lakefront-lake" in caplog.text
    assert "removed the empty bucket lakefront" in caplog.text

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="lakefront.control"):
        migrate_legacy_objects(settings)  # the next start: nothing left to move
    assert "objects:" not in caplog.text
    assert contents(settings) == expected()


def test_an_interrupted_move_resumes_and_keeps_what_the_bucket_already_has(
        managed: tuple[Settings, SeaweedFSServer], caplog: pytest.LogCaptureFixture) -> None:
    settings, _ = managed
    # As if the last start copied the upload, then stopped before deleting the old key.
    make_object_store(settings, "images").put(UPLOAD, b"copied before", "image/jpeg")
    with legacy_bucket(settings, {"notes/readme.txt": b"not ours"}) as old:
        with caplog.at_level(logging.INFO, logger="lakefront.control"):
            migrate_legacy_objects(settings)

        assert contents(settings)["images"] == {UPLOAD: b"copied before", DEMO: DEMO.encode()}
        assert contents(settings)["lake"] == {RAW: RAW.encode(), MANIFEST: MANIFEST.encode()}
        assert [info.key for info in old.list()] == ["notes/readme.txt"]  # of no area: left to its owner
    assert "bucket lakefront still holds 1 objects of no area; left in place" in caplog.text
