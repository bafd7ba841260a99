"""A managed data server whose restart fails is reported and retried with backoff, never fatal to `up`:
a real redis-server killed, its port then taken by another listener, then freed."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest

from lakefront.control.dataservers import DataServers, Managed
from lakefront.servers.procs import free_port
from lakefront.servers.redis import RedisServer
from lakefront.settings import Settings


def test_a_data_server_whose_restart_fails_is_reported_and_retried_with_backoff(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    data = DataServers(Settings(var_dir=tmp_path / "var", profile="services"), clock=lambda: now[0])
    server = RedisServer(dir=tmp_path / "redis", port=free_port())
    server.start(tmp_path / "redis.log")
    server.wait_ready()
    data.servers["cache"] = entry = Managed("redis", "cache", server)
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        server.kill()
        blocker.bind(("127.0.0.1", server.port))  # someone else took the port: the restart cannot succeed
        blocker.listen()
        caplog.set_level(logging.INFO, logger="lakefront.control")

        assert data.tick()
        assert (entry.failures, entry.restarts) == (1, 0) and entry.last_error
        assert not server.running
        failed = [r for r in caplog.records if "restart failed" in r.getMessage()]
        assert len(failed) == 1 and "\n" not in failed[0].getMessage()
        assert data.describe()[0]["failed_restarts"] == 1

        assert not data.tick()  # within the backoff: not tried again
        now[0] += 1.0
        assert data.tick() and entry.failures == 2  # tried again, failed again; the wait doubles
        now[0] += 1.0
        assert not data.tick()
        now[0] += 1.0
        blocker.close()  # the port is free again
        assert data.tick()
        assert server.running and (entry.failures, entry.restarts, entry.last_error) == (0, 1, None)
        assert server.ready()
    finally:
        blocker.close()
        server.stop()
