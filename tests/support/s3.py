"""A throwaway SeaweedFS S3 server for tests: free loopback ports, a temp dir, killed at the end."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lakefront.data.objects.s3 import S3Store
from lakefront.servers.seaweedfs import SeaweedFSError, SeaweedFSServer, pick_s3_port

ACCESS_KEY = "test-access"
SECRET_KEY = "test-secret-0123456789"
BUCKET = "lakefront-test"
REGION = "us-east-1"


@contextmanager
def seaweedfs(work_dir: Path, *, buckets: tuple[str, ...] = (BUCKET,)) -> Iterator[SeaweedFSServer]:
    """A ready SeaweedFS (buckets created) with its data in work_dir/data and its log at work_dir/weed.log."""
    server: SeaweedFSServer | None = None
    for attempt in range(3):
        server = SeaweedFSServer(work_dir / "data", pick_s3_port(), ACCESS_KEY, SECRET_KEY, buckets=buckets)
        server.start(work_dir / "weed.log")
        try:
            server.wait_ready()
            break
        except SeaweedFSError:
            # Another process may have taken one of the ports between the check and the bind: try another set.
            server.kill()
            if attempt == 2:
                raise
    assert server is not None
    try:
        yield server
    finally:
        # Throwaway data: SIGKILL instead of the 4 s clean stop.
        server.kill()


def store_for(server: SeaweedFSServer, presign_ttl_s: int = 300) -> S3Store:
    """A client of `server`'s (first) bucket with the server's credentials; close it when done."""
    return S3Store(server.endpoint_url, server.bucket, REGION, server.access_key, server.secret_key, presign_ttl_s)
