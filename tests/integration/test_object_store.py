"""One suite for every object store: a local directory, and S3 on a real SeaweedFS server, for each area's bucket
(images, lake, backups) as make_object_store builds it.

Then the areas' separation: a key stored in one area's bucket is invisible through the others. The S3 cases at
the end check what only S3 has: a private bucket, presigned URLs, a restart.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lakefront.data.objects import AREAS, Area, DirectoryStore, ObjectStore, make_object_store
from lakefront.data.objects.s3 import S3PermissionError, S3Store, S3StoreError, S3UnavailableError
from lakefront.servers.seaweedfs import SeaweedFSServer, pick_s3_port
from lakefront.settings import Settings
from support.s3 import ACCESS_KEY, REGION, SECRET_KEY, seaweedfs, store_for

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
_buckets = itertools.count(1)


@pytest.fixture(scope="module")
def weed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFSServer]:
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


def area_settings(backend: str, var_dir: Path, weed: SeaweedFSServer | None = None) -> Settings:
    """Settings whose buckets are this test's own: a fresh name prefix on S3 (each area's bucket created)."""
    if backend == "directory":
        return Settings(var_dir=var_dir)
    assert weed is not None
    settings = Settings(profile="services", var_dir=var_dir, objects={  # type: ignore[arg-type]
        "s3_endpoint": weed.endpoint_url, "bucket": f"case-{next(_buckets)}", "access_key": ACCESS_KEY,
        "secret_key": SECRET_KEY})
    for bucket in settings.objects.buckets.values():
        with S3Store(weed.endpoint_url, bucket, REGION, ACCESS_KEY, SECRET_KEY) as client:
            client.ensure_bucket()
    return settings


@pytest.fixture
def s3(weed: SeaweedFSServer) -> Iterator[S3Store]:
    """An S3Store over a bucket of its own, so each test starts from an empty store."""
    with S3Store(weed.endpoint_url, f"case-{next(_buckets)}", REGION, ACCESS_KEY, SECRET_KEY, 300) as store:
        store.ensure_bucket()
        yield store


@pytest.fixture(params=[(backend, area) for backend in ("directory", "s3") for area in AREAS],
                ids=lambda param: "-".join(param))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    backend, area = request.param
    # Only the S3 cases start SeaweedFS: `-k directory` runs without it.
    weed = request.getfixturevalue("weed") if backend == "s3" else None
    built = make_object_store(area_settings(backend, tmp_path, weed), area)
    yield built
    close = getattr(built, "close", None)
    if close is not None:
        close()


def test_an_object_comes_back_with_its_bytes_and_content_type(store: ObjectStore) -> None:
    store.put("images/products/1.png", PNG, "image/png")
    store.put("lake/raw/orders.json", b'{"id": 1}\n', "application/json")

    assert store.get("images/products/1.png") == (PNG, "image/png")
    assert store.get("lake/raw/orders.json") == (b'{"id": 1}\n', "application/json")


def test_an_empty_object_is_stored_and_read_back(store: ObjectStore) -> None:
    store.put("empty.csv", b"", "text/csv")

    assert store.get("empty.csv") == (b"", "text/csv")


def test_a_reader_sees_the_old_or_the_new_object_never_a_mix_during_overwrites(store: ObjectStore) -> None:
    # Larger than SeaweedFS's 4 MB chunk, and of different lengths, so a torn read would show.
    old, new = b"a" * 5_000_000, b"b" * 6_000_000
    store.put("backups/db.bin", old, "application/octet-stream")
    done = threading.Event()
    errors: list[BaseException] = []

    def overwrite() -> None:
        try:
            for data in [new, old] * 4:
                store.put("backups/db.bin", data, "application/octet-stream")
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    writer = threading.Thread(target=overwrite)
    writer.start()
    seen = set()
    try:
        while not done.is_set() or not seen:
            data, _ = store.get("backups/db.bin")
            assert data in (old, new), f"torn read: {len(data)} bytes, starting {data[:1]!r}, ending {data[-1:]!r}"
            seen.add(data[:1])
    finally:
        writer.join()
    assert not errors
    assert store.get("backups/db.bin")[0] == old


def test_getting_a_missing_key_raises_file_not_found(store: ObjectStore) -> None:
    with pytest.raises(FileNotFoundError):
        store.get("images/never-stored.png")


@pytest.mark.parametrize("key", ["../x", "/abs", "", "a/../b", "a//b", "trailing/"])
def test_keys_that_are_not_plain_relative_paths_are_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(ValueError):
        store.put(key, b"x", "text/plain")
    with pytest.raises(ValueError):
        store.get(key)
    with pytest.raises(ValueError):
        store.delete(key)
    with pytest.raises(ValueError):
        store.exists(key)


def test_deleting_is_idempotent(store: ObjectStore) -> None:
    store.delete("never/stored.txt")
    store.put("once.csv", b"a,b\n", "text/csv")

    store.delete("once.csv")
    store.delete("once.csv")

    assert not store.exists("once.csv")
    with pytest.raises(FileNotFoundError):
        store.get("once.csv")


def test_exists_tells_a_stored_key_from_a_missing_one(store: ObjectStore) -> None:
    store.put("images/1.png", PNG, "image/png")

    assert store.exists("images/1.png")
    assert not store.exists("images/2.png")
    assert not store.exists("images")  # a prefix is not an object


def test_listing_by_prefix_returns_exactly_the_keys_under_it(store: ObjectStore) -> None:
    objects = {"lake/raw/orders/a.csv": b"1,2\n", "lake/raw/orders/b.json": b"{}", "lake/raw/items.csv": b"x",
               "lake/marts/sales.parquet": b"PAR1", "lakeside.png": PNG, "images/1.png": PNG}
    for key, data in objects.items():
        store.put(key, data, "application/octet-stream")

    under = sorted(store.list("lake/raw/orders/"), key=lambda info: info.key)

    assert [(i.key, i.size, i.content_type) for i in under] == [("lake/raw/orders/a.csv", 4, "text/csv"),
                                                                 ("lake/raw/orders/b.json", 2, "application/json")]
    # When each was written, for the lake's maintenance to tell old orphans from a run in flight.
    assert all(abs(i.modified - time.time()) < 600 for i in under)
    assert {info.key for info in store.list("lake/")} == {k for k in objects if k.startswith("lake/")}
    assert {info.key for info in store.list()} == set(objects)
    assert list(store.list("nothing/")) == []


# The areas apart: what the public media path may reach is the images bucket, and only it.

LAKE_KEY = "lake/raw/customers/dt=2026-01-01/20260101T000000Z-0badc0de-part-00000.parquet"
IMAGE_KEY = "products/ab/ab0123456789abcdef0123456789abcd.jpg"


@pytest.mark.parametrize("backend", ["directory", "s3"])
def test_a_key_in_one_area_cannot_be_read_through_another_areas_store(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    settings = area_settings(backend, tmp_path, request.getfixturevalue("weed") if backend == "s3" else None)
    stores: dict[Area, ObjectStore] = {area: make_object_store(settings, area) for area in AREAS}
    try:
        stores["lake"].put(LAKE_KEY, b"emails and names", "application/vnd.apache.parquet")
        stores["images"].put(IMAGE_KEY, PNG, "image/jpeg")
        stores["backups"].put("db/2026-01-01.sql.gz", b"dump", "application/gzip")
        owned = {"lake": LAKE_KEY, "images": IMAGE_KEY, "backups": "db/2026-01-01.sql.gz"}

        for area, store in stores.items():
            assert [info.key for info in store.list()] == [owned[area]]
            for other, key in owned.items():
                if other == area:
                    continue
                assert not store.exists(key), (area, key)
                with pytest.raises(FileNotFoundError):
                    store.get(key)
        # The images bucket sits beside the lake's, yet no key climbs out of it.
        lake_bucket = settings.objects.buckets["lake"]
        with pytest.raises(ValueError):
            stores["images"].get(f"../{lake_bucket}/{LAKE_KEY}")
    finally:
        for store in stores.values():
            close = getattr(store, "close", None)
            if close is not None:
                close()


def test_each_area_of_the_directory_store_is_its_own_directory_under_the_objects_root(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, objects={"lake_bucket": "shop-analytics"})  # type: ignore[arg-type]

    roots = {area: make_object_store(settings, area) for area in AREAS}

    assert {area: store.root for area, store in roots.items() if isinstance(store, DirectoryStore)} == {
        "images": tmp_path / "objects" / "lakefront-images", "lake": tmp_path / "objects" / "shop-analytics",
        "backups": tmp_path / "objects" / "lakefront-backups"}


def test_the_readiness_probe_creates_the_bucket_of_every_area(tmp_path: Path) -> None:
    buckets = ("ready-images", "ready-lake", "ready-backups")
    with seaweedfs(tmp_path, buckets=buckets) as server:
        for bucket in buckets:
            with S3Store(server.endpoint_url, bucket, REGION, ACCESS_KEY, SECRET_KEY) as client:
                assert client.bucket_exists(), bucket
                assert list(client.list()) == []  # the probe object is gone again


# S3 only: what a private bucket on a real server must also guarantee.


def test_an_anonymous_get_of_a_stored_key_is_refused(s3: S3Store, weed: SeaweedFSServer) -> None:
    s3.put("images/secret.png", PNG, "image/png")

    response = httpx.get(f"{weed.endpoint_url}/{s3.bucket}/images/secret.png", timeout=10)

    assert response.status_code in (401, 403)
    assert PNG not in response.content


def test_an_anonymous_listing_of_the_bucket_is_refused(s3: S3Store, weed: SeaweedFSServer) -> None:
    s3.put("images/secret.png", PNG, "image/png")

    for url in (f"{weed.endpoint_url}/{s3.bucket}", f"{weed.endpoint_url}/{s3.bucket}?list-type=2",
                f"{weed.endpoint_url}/"):
        response = httpx.get(url, timeout=10)
        assert response.status_code in (401, 403), url
        assert b"secret.png" not in response.content


def test_an_anonymous_put_is_refused_and_stores_nothing(s3: S3Store, weed: SeaweedFSServer) -> None:
    response = httpx.put(f"{weed.endpoint_url}/{s3.bucket}/planted.png", content=PNG, timeout=10)

    assert response.status_code in (401, 403)
    assert not s3.exists("planted.png")


def test_a_presigned_url_serves_its_object_until_the_key_is_deleted(s3: S3Store) -> None:
    s3.put("images/shared.png", PNG, "image/png")
    url = s3.presigned_get_url("images/shared.png")

    first = httpx.get(url, timeout=10)
    assert (first.status_code, first.content, first.headers["content-type"]) == (200, PNG, "image/png")
    # The signature covers the key: it opens nothing else in the bucket.
    s3.put("images/other.png", b"other", "image/png")
    assert httpx.get(url.replace("shared.png", "other.png"), timeout=10).status_code in (401, 403)

    s3.delete("images/shared.png")
    assert httpx.get(url, timeout=10).status_code == 404


def test_a_presigned_url_for_an_invalid_key_is_refused(s3: S3Store) -> None:
    with pytest.raises(ValueError):
        s3.presigned_get_url("../etc/passwd")


def test_wrong_credentials_raise_a_permission_error(weed: SeaweedFSServer, s3: S3Store) -> None:
    with S3Store(weed.endpoint_url, s3.bucket, REGION, ACCESS_KEY, "not-the-secret", 300) as intruder:
        with pytest.raises(S3PermissionError) as raised:
            intruder.put("planted.png", PNG, "image/png")
        with pytest.raises(PermissionError):
            intruder.get("planted.png")
    assert "PutObject" in str(raised.value)
    assert not s3.exists("planted.png")


def test_a_missing_bucket_is_a_store_error_not_a_missing_key(weed: SeaweedFSServer) -> None:
    with (S3Store(weed.endpoint_url, "no-such-bucket", REGION, ACCESS_KEY, SECRET_KEY, 300) as store,
          pytest.raises(S3StoreError) as raised):
        store.get("a.png")
    assert not isinstance(raised.value, FileNotFoundError)
    assert "no-such-bucket" in str(raised.value)


def test_an_unreachable_endpoint_raises_a_connection_error() -> None:
    port = pick_s3_port()  # a free port nobody listens on
    with S3Store(f"http://127.0.0.1:{port}", "lakefront", REGION, ACCESS_KEY, SECRET_KEY, 300,
                 connect_timeout=1, max_attempts=1) as store, pytest.raises(S3UnavailableError) as raised:
        store.get("a.png")
    assert isinstance(raised.value, ConnectionError)


def test_the_factory_picks_s3_in_the_services_profile_and_a_directory_otherwise(
        weed: SeaweedFSServer, tmp_path: Path) -> None:
    services = area_settings("s3", tmp_path, weed)
    embedded = Settings(var_dir=tmp_path)

    s3_store = make_object_store(services, "lake")
    assert isinstance(s3_store, S3Store)
    assert s3_store.bucket == f"{services.objects.bucket}-lake"
    with s3_store:
        s3_store.put("factory.json", b"{}", "application/json")
        assert s3_store.get("factory.json") == (b"{}", "application/json")
    local = make_object_store(embedded, "images")
    assert isinstance(local, DirectoryStore)
    assert local.root == tmp_path / "objects" / "lakefront-images"
    with pytest.raises(ValueError):
        make_object_store(embedded, "everything")  # type: ignore[arg-type]


def test_the_bucket_and_its_objects_survive_a_server_restart_on_the_same_dir(tmp_path: Path) -> None:
    with seaweedfs(tmp_path, buckets=("durable",)) as server:
        with store_for(server) as store:
            store.put("images/kept.png", PNG, "image/png")
        server.stop()  # a clean stop, as `lakefront down` does
        assert not server.running

        again = SeaweedFSServer(server.dir, server.s3_port, server.access_key, server.secret_key, buckets=("durable",))
        again.start(tmp_path / "weed-again.log")
        try:
            again.wait_ready()
            with store_for(again) as store:
                assert store.get("images/kept.png") == (PNG, "image/png")
                assert [info.key for info in store.list()] == ["images/kept.png"]
        finally:
            again.kill()


def test_the_embedded_profile_never_imports_boto3(tmp_path: Path) -> None:
    code = ("import sys; from lakefront.settings import Settings; "
            "from lakefront.data.objects import make_object_store; "
            f"make_object_store(Settings(var_dir={str(tmp_path)!r}), 'lake'); assert 'boto3' not in sys.modules")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEFRONT_")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)
