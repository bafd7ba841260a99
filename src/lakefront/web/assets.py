"""Static files with versioned URLs, so a browser can keep them for a year and still never run stale code.

Templates link ``static_url("site.css")`` -> ``/static/site.css?v=<content hash>``. A request carrying
the current hash is cached as immutable; one without it (or with an old one) must revalidate.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

from starlette.datastructures import QueryParams
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

_versions: dict[tuple[str, int, int], str] = {}


def version(path: Path, stat: os.stat_result) -> str:
    """The content hash a static URL carries (the first 16 hex digits of its SHA-256)."""
    cache_key = (str(path), stat.st_mtime_ns, stat.st_size)
    found = _versions.get(cache_key)
    if found is None:
        found = _versions[cache_key] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return found


@functools.cache
def static_url(name: str) -> str:
    """The file's URL under its content hash, computed once per process: static files are part of the
    release, and a stat per link per page was measurable (bench/RESULTS.md)."""
    path = STATIC_DIR / name
    return f"/static/{name}?v={version(path, path.stat())}"


class StaticAssets(StaticFiles):
    """StaticFiles whose answers say how long they may be kept (Starlette's say nothing)."""

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope,
                      status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        wanted = QueryParams(scope.get("query_string", b"")).get("v")
        current = version(Path(full_path), stat_result)
        response.headers["cache-control"] = IMMUTABLE if wanted == current else REVALIDATE
        return response
