"""Application versions (control/versions.py): snapshots from a directory and from a git ref, recorded
in var/versions/versions.json, and the environment an instance of each runs with."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lakefront.control.versions import INSTALLED, VersionError, VersionStore


def package(root: Path, marker: str) -> Path:
    (root / "lakefront").mkdir(parents=True)
    (root / "lakefront" / "__init__.py").write_text(f"MARKER = {marker!r}\n")
    (root / "lakefront" / "__main__.py").write_text("")
    return root


def test_a_directory_version_is_a_copy_recorded_with_its_source_and_run_through_pythonpath(tmp_path: Path) -> None:
    store = VersionStore(tmp_path / "versions")
    source = package(tmp_path / "src", "one")
    record = store.from_directory(source)
    (source / "lakefront" / "__init__.py").write_text("MARKER = 'changed after'\n")
    assert record["id"] == "v1" and record["status"] == "created"
    assert record["source"] == f"dir:{source.resolve()}"
    assert (tmp_path / "versions" / "v1" / "lakefront" / "__init__.py").read_text() == "MARKER = 'one'\n"
    assert store.env("v1") == {"PYTHONPATH": str((tmp_path / "versions" / "v1").resolve())}
    assert store.env(INSTALLED) == {}
    assert store.from_directory(source)["id"] == "v2"


def test_a_git_version_is_the_package_of_that_commit_not_of_the_working_tree(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    package(repo / "src", "committed")

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)

    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "one")
    (repo / "src" / "lakefront" / "__init__.py").write_text("MARKER = 'uncommitted'\n")
    store = VersionStore(tmp_path / "versions")
    record = store.from_git("HEAD", repo)
    assert record["source"].startswith("git:HEAD (")
    assert (tmp_path / "versions" / "v1" / "lakefront" / "__init__.py").read_text() == "MARKER = 'committed'\n"
    with pytest.raises(VersionError, match="git rev-parse no-such-ref"):
        store.from_git("no-such-ref", repo)


def test_the_running_version_survives_in_the_record_and_a_missing_snapshot_falls_back_to_installed(
        tmp_path: Path) -> None:
    store = VersionStore(tmp_path / "versions")
    store.from_directory(package(tmp_path / "src", "one"))
    assert store.running("app") == INSTALLED
    store.set_running("app", "v1")
    store.update("v1", status="deployed")
    assert VersionStore(tmp_path / "versions").running("app") == "v1"
    assert store.get("v1")["status"] == "deployed"  # type: ignore[index]
    store.set_running("web", "v9")
    assert store.running("web") == INSTALLED


def test_a_directory_without_the_package_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(VersionError, match="no lakefront/ package in it"):
        VersionStore(tmp_path / "versions").from_directory(tmp_path)
