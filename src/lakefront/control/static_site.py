"""The web tier's static files, served by the public load balancer itself (as a CDN or an ALB in
front of S3 would) instead of going through a Python process for each one.

`publish()` copies src/lakefront/web/static into var/run/static with a gzip copy of every
compressible file beside it, so Caddy's file_server answers compressed without compressing on each
request (echarts.min.js is 1.1 MB, 370 KB gzipped). `routes()` is the public listener's route for
/static/*: the same security headers as every web response (web/headers.py), and the web tier's
caching rule exactly: a URL carrying the file's current content hash is immutable for a year,
anything else must revalidate (web/assets.py). The web instances keep their own /static mount, so a
request that reaches one directly still gets the file.
"""

from __future__ import annotations

import gzip
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lakefront.web.assets import IMMUTABLE, REVALIDATE, STATIC_DIR, version
from lakefront.web.headers import HEADERS

PREFIX = "/static"
COMPRESSIBLE = frozenset({".css", ".js", ".svg", ".json", ".txt", ".md", ".html", ".map"})


@dataclass(frozen=True)
class StaticSite:
    root: Path
    """Where the published copy lives (Caddy's file_server root)."""
    versions: dict[str, str]
    """Path under /static -> the content hash its current URL carries."""


def publish(dest: Path, source: Path = STATIC_DIR) -> StaticSite:
    """Copy `source` to `dest` (replacing what was there) with .gz siblings; the hashes of every file."""
    staging = dest.with_name(dest.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)
    versions: dict[str, str] = {}
    for path in sorted(p for p in staging.rglob("*") if p.is_file()):
        name = path.relative_to(staging).as_posix()
        versions[name] = version(source / name, (source / name).stat())
        if path.suffix in COMPRESSIBLE:
            data = path.read_bytes()
            packed = gzip.compress(data, compresslevel=9, mtime=0)
            if len(packed) < len(data):
                path.with_name(path.name + ".gz").write_bytes(packed)
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)
    return StaticSite(dest, versions)


def _headers(cache_control: str, *, with_security: bool) -> dict[str, Any]:
    values = {name.title(): [value] for name, value in HEADERS.items()} if with_security else {}
    values["Cache-Control"] = [cache_control]
    return {"handler": "headers", "response": {"set": values}}


def route(site: StaticSite, request_id: str) -> dict[str, Any]:
    """The public listener's terminal route for /static/*, logged with `request_id` like every request."""
    immutable = [{"match": [{"path": [f"{PREFIX}/{name}"], "query": {"v": [digest]}}],
                  "handle": [_headers(IMMUTABLE, with_security=False)]}
                 for name, digest in site.versions.items()]
    return {
        "match": [{"path": [f"{PREFIX}/*"]}],
        "handle": [
            {"handler": "log_append", "key": "request_id", "value": request_id},
            _headers(REVALIDATE, with_security=True),
            {"handler": "subroute", "routes": immutable},
            {"handler": "rewrite", "strip_path_prefix": PREFIX},
            {"handler": "file_server", "root": str(site.root),
             "precompressed": {"gzip": {}}, "precompressed_order": ["gzip"]},
        ],
        "terminal": True,
    }
