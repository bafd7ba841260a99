"""The endpoints document the failover monitor publishes and every app instance follows."""

from __future__ import annotations

import os
from pathlib import Path

from lakefront.data.endpoints import Endpoints, EndpointsFile, Node, write_endpoints


def test_no_document_yet_is_none(tmp_path: Path) -> None:
    assert EndpointsFile(tmp_path / "db-endpoints.json").current() is None


def test_a_published_document_reads_back_and_a_new_one_replaces_it(tmp_path: Path) -> None:
    path = tmp_path / "run" / "db-endpoints.json"
    watcher = EndpointsFile(path)
    first = Endpoints(1, Node("db-1", "127.0.0.1", 3307), (Node("db-2", "127.0.0.1", 3308),), "t1")
    write_endpoints(path, first)
    assert watcher.current() == first
    second = Endpoints(2, Node("db-2", "127.0.0.1", 3308), (), "t2")
    write_endpoints(path, second)
    assert watcher.current() == second
    switching = Endpoints(3, None, ())
    write_endpoints(path, switching)
    assert watcher.current() == switching and watcher.current().writer is None  # type: ignore[union-attr]


def test_publishing_leaves_no_temporary_file_behind(tmp_path: Path) -> None:
    path = tmp_path / "db-endpoints.json"
    write_endpoints(path, Endpoints(1, Node("db-1", "127.0.0.1", 3307)))
    assert os.listdir(tmp_path) == ["db-endpoints.json"]


def test_a_damaged_document_keeps_the_last_good_one(tmp_path: Path) -> None:
    path = tmp_path / "db-endpoints.json"
    watcher = EndpointsFile(path)
    good = Endpoints(4, Node("db-1", "127.0.0.1", 3307))
    write_endpoints(path, good)
    assert watcher.current() == good
    path.write_text('{"generation": ')  # not what write_endpoints would ever leave
    assert watcher.current() == good
