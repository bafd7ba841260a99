"""The public listener answers /static/* itself (control/static_site.py), with no web instance behind it:
the web tier's security headers and caching rule, gzip from the published copy, a 404 for the rest."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lakefront.control import static_site
from lakefront.control.lb import LoadBalancer
from lakefront.servers.caddy import start_caddy
from lakefront.servers.procs import free_port
from lakefront.settings import LoadBalancerSettings
from lakefront.web.assets import IMMUTABLE, REVALIDATE, STATIC_DIR, static_url
from lakefront.web.headers import HEADERS


@pytest.fixture(scope="module")
def public(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("static-lb")
    settings = LoadBalancerSettings(public_port=free_port(), internal_port=free_port(), admin_port=free_port())
    caddy = start_caddy(host=settings.host, admin_port=settings.admin_port, work_dir=work / "caddy",
                        log_path=work / "caddy.log")
    balancer = LoadBalancer(settings, work / "access.log")
    try:
        # No web instance at all: whatever answers /static here is the balancer.
        balancer.open_listener("public", [], static_site.publish(work / "static"))
        yield f"http://{settings.host}:{settings.public_port}"
    finally:
        balancer.close()
        caddy.stop()


def test_a_static_file_under_its_current_hash_is_immutable_with_every_security_header(public: str) -> None:
    response = httpx.get(public + static_url("site.css"))
    assert response.status_code == 200
    assert response.content == (STATIC_DIR / "site.css").read_bytes()
    assert response.headers["cache-control"] == IMMUTABLE
    assert response.headers["content-type"].startswith("text/css")
    for name, value in HEADERS.items():
        assert response.headers[name] == value


def test_a_static_file_without_the_current_hash_must_revalidate(public: str) -> None:
    for query in ("", "?v=0123456789abcdef"):
        response = httpx.get(f"{public}/static/site.css{query}")
        assert response.status_code == 200
        assert response.headers["cache-control"] == REVALIDATE
        assert response.headers["content-security-policy"] == HEADERS["content-security-policy"]


def test_compressible_files_go_out_gzipped_to_a_client_that_accepts_it(public: str) -> None:
    url = public + static_url("vendor/echarts/echarts.min.js")
    raw = httpx.get(url, headers={"Accept-Encoding": "gzip"}).headers
    assert raw["content-encoding"] == "gzip" and "accept-encoding" in raw.get("vary", "").lower()
    with httpx.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as response:
        packed = b"".join(response.iter_raw())
    original = (STATIC_DIR / "vendor/echarts/echarts.min.js").read_bytes()
    assert gzip.decompress(packed) == original and len(packed) < len(original) / 2
    plain = httpx.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == original


def test_a_missing_static_file_is_a_404_with_the_security_headers(public: str) -> None:
    response = httpx.get(f"{public}/static/nothing-here.css")
    assert response.status_code == 404
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == REVALIDATE


def test_publishing_again_replaces_the_copy_and_knows_every_file(tmp_path: Path) -> None:
    site = static_site.publish(tmp_path / "static")
    (tmp_path / "static" / "stale.txt").write_text("left from an older release")
    again = static_site.publish(tmp_path / "static")
    assert not (tmp_path / "static" / "stale.txt").exists()
    assert again.versions == site.versions
    assert "site.css" in site.versions and (tmp_path / "static" / "site.css.gz").exists()
