"""The one server lifecycle (servers/base.py) on a real process: a tiny HTTP server filled in the way
Caddy, MariaDB, Redis and SeaweedFS are, so what every managed server inherits is checked in one place."""

from __future__ import annotations

import logging
import re
import socket
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakefront.servers.base import HOST, Server, ServerError
from lakefront.servers.procs import free_port, pid_alive


class TinyError(ServerError):
    pass


class TinyServer(Server):
    """Python's http.server in `dir`: a stand-in for a real binary."""

    kind = "tiny"
    error = TinyError
    ready_timeout_s = 20.0
    stop_timeout_s = 5.0

    def __init__(self, dir: Path, port: int, *, exit_status: int | None = None) -> None:
        self.dir = dir
        self.port = port
        self.exit_status = exit_status
        self.prepared = 0
        self.cleaned = 0

    def argv(self) -> list[str]:
        if self.exit_status is not None:
            return [sys.executable, "-c", f"import sys; print('giving up'); sys.exit({self.exit_status})"]
        return [sys.executable, "-m", "http.server", str(self.port), "--bind", HOST, "--directory", str(self.dir)]

    def default_log_path(self) -> Path:
        return self.dir / "tiny.log"

    def prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "index.html").write_text("hello")
        self.prepared += 1

    def cleanup(self) -> None:
        self.cleaned += 1

    def ready(self) -> bool:
        with urllib.request.urlopen(f"http://{HOST}:{self.port}/index.html", timeout=1) as response:
            return bool(response.read() == b"hello")

    def not_ready_errors(self) -> tuple[type[BaseException], ...]:
        return (OSError,)


@pytest.fixture
def tiny(tmp_path: Path) -> Iterator[TinyServer]:
    server = TinyServer(tmp_path / "tiny", free_port())
    try:
        yield server
    finally:
        server.kill()


def test_a_server_starts_serves_and_stops_logging_one_line_per_event(
        tiny: TinyServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lakefront.servers")
    tiny.start_ready()
    pid = tiny.pid
    assert pid is not None and tiny.running and tiny.prepared == 1
    assert tiny.log_path == tiny.dir / "tiny.log"
    tiny.stop()
    assert not pid_alive(pid) and not tiny.running and tiny.pid is None
    assert tiny.cleaned == 1
    events = [r.getMessage() for r in caplog.records if r.name == "lakefront.servers"]
    label = re.escape(f"tiny on {HOST}:{tiny.port}")
    expected = [rf"{label} started \(pid {pid}\)", rf"{label} ready after \d+\.\d\ds",
                rf"{label} stopped \(pid {pid}\)"]
    assert len(events) == len(expected)
    assert all(re.fullmatch(pattern, event) for pattern, event in zip(expected, events, strict=True)), events


def test_a_taken_port_is_refused_before_anything_is_written_or_started(tiny: TinyServer) -> None:
    with socket.socket() as taken:
        taken.bind((HOST, tiny.port))
        taken.listen()
        with pytest.raises(TinyError, match=rf"^tiny on {HOST}:{tiny.port}: port {tiny.port} on {HOST} already in use"):
            tiny.start()
    assert tiny.proc is None and tiny.prepared == 0


def test_a_server_that_exits_while_starting_is_one_line_naming_its_status_and_log(tmp_path: Path) -> None:
    server = TinyServer(tmp_path / "tiny", free_port(), exit_status=3)
    with pytest.raises(TinyError) as caught:
        server.start_ready()
    message = str(caught.value)
    assert "\n" not in message
    log_path = tmp_path / "tiny" / "tiny.log"
    assert message == f"tiny on {HOST}:{server.port} exited with status 3 at start; see {log_path}"
    assert server.proc is None  # start_ready leaves nothing behind
    assert "giving up" in log_path.read_text()


def test_a_second_start_of_a_running_server_is_refused(tiny: TinyServer) -> None:
    tiny.start_ready()
    with pytest.raises(TinyError, match=r"is already running \(pid \d+\)$"):
        tiny.start()


def test_kill_leaves_what_a_crash_leaves_and_restart_comes_back_on_the_same_port_and_log(
        tiny: TinyServer, tmp_path: Path) -> None:
    log_path = tmp_path / "elsewhere.log"
    tiny.start_ready(log_path)
    first = tiny.pid
    assert first is not None
    tiny.kill()
    assert not pid_alive(first) and not tiny.running
    assert tiny.cleaned == 0  # a crash cleans nothing up
    tiny.restart()
    assert tiny.running and tiny.pid != first and tiny.log_path == log_path
    assert tiny.ready()
    assert tiny.prepared == 2
