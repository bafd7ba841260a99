"""Application versions: what `lakefront deploy` rolls onto the instances (the Elastic Beanstalk
"application version" role).

A version is a source snapshot of the `lakefront` package, taken from a git ref (`git archive`) or a
directory, copied into var/versions/<id>/lakefront/. An instance of a version runs the same Python
environment with PYTHONPATH set to the snapshot, so the code is the snapshot's and the dependencies
are the installed environment's. "installed" is the environment's own code (no PYTHONPATH).

var/versions/versions.json records every version (id, source, created, status, reason) and which
version each group runs now, so `deploy --list` can answer without `up` and a restarted `up`
starts the version last deployed.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

from lakefront.control.supervisor import now_iso

INSTALLED = "installed"
PACKAGE = "lakefront"


class VersionError(RuntimeError):
    """A version cannot be created or found; the message is one line the user can act on."""


class VersionStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.file = root / "versions.json"

    # The record ----------------------------------------------------------------------------------

    def read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.file.read_text())
        except (OSError, ValueError):
            data = {}
        data.setdefault("versions", [])
        data.setdefault("running", {})
        return data  # type: ignore[no-any-return]

    def _write(self, data: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_name(f".{self.file.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(self.file)

    def get(self, version_id: str) -> dict[str, Any] | None:
        return next((v for v in self.read()["versions"] if v["id"] == version_id), None)

    def update(self, version_id: str, **fields: Any) -> None:
        data = self.read()
        for record in data["versions"]:
            if record["id"] == version_id:
                record.update(fields)
        self._write(data)

    def set_running(self, tier: str, version_id: str) -> None:
        data = self.read()
        data["running"][tier] = version_id
        self._write(data)

    def running(self, tier: str) -> str:
        """The version `tier` runs after its last deployment; "installed" when none (or its snapshot is gone)."""
        version_id = str(self.read()["running"].get(tier, INSTALLED))
        return version_id if version_id == INSTALLED or self.path(version_id).is_dir() else INSTALLED

    def path(self, version_id: str) -> Path:
        return self.root / version_id

    def env(self, version_id: str) -> dict[str, str]:
        """What an instance of `version_id` adds to its environment."""
        if version_id == INSTALLED:
            return {}
        return {"PYTHONPATH": str(self.path(version_id).resolve())}

    # Creating ------------------------------------------------------------------------------------

    def _new_id(self, data: dict[str, Any]) -> str:
        numbers = [int(v["id"][1:]) for v in data["versions"] if v["id"][1:].isdigit()]
        return f"v{max(numbers, default=0) + 1}"

    def _record(self, fill: Any, source: str) -> dict[str, Any]:
        data = self.read()
        version_id = self._new_id(data)
        target = self.path(version_id)
        staging = self.root / f".{version_id}.staging"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            fill(staging)
            if not (staging / PACKAGE / "__main__.py").is_file():
                raise VersionError(f"{source}: no {PACKAGE}/__main__.py in the snapshot; not an application version")
            staging.replace(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        record = {"id": version_id, "source": source, "created": now_iso(), "status": "created", "reason": ""}
        data["versions"].append(record)
        self._write(data)
        return record

    def from_directory(self, source: Path) -> dict[str, Any]:
        """Snapshot `source`/lakefront (the directory that contains the package, like src/)."""
        package = source / PACKAGE
        if not (package / "__init__.py").is_file():
            raise VersionError(f"{source}: no {PACKAGE}/ package in it (give the directory that contains {PACKAGE}/)")

        def fill(staging: Path) -> None:
            shutil.copytree(package, staging / PACKAGE,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))

        return self._record(fill, f"dir:{source.resolve()}")

    def from_git(self, ref: str, repo: Path) -> dict[str, Any]:
        """Snapshot src/lakefront (or lakefront/) of `ref` in the git repository at `repo`, with `git archive`."""
        if ref.startswith("-"):
            raise VersionError(f"--ref {ref!r} is not a git ref")
        git_bin = shutil.which("git")
        if git_bin is None:
            raise VersionError("git is not installed; use --source DIR")

        def git(*args: str) -> bytes:
            try:
                # An argument list, no shell; the ref cannot be read as an option (checked above).
                done = subprocess.run([git_bin, "-C", str(repo), *args],  # nosec B603
                                      capture_output=True, check=False, timeout=60)
            except FileNotFoundError:
                raise VersionError("git is not installed; use --source DIR") from None
            if done.returncode != 0:
                reason = done.stderr.decode(errors="replace").strip().splitlines()
                raise VersionError(f"git {args[0]} {ref}: {reason[0] if reason else 'failed'}")
            return done.stdout

        commit = git("rev-parse", "--verify", f"{ref}^{{commit}}").decode().strip()
        prefix = next((p for p in ("src", "") if git("ls-tree", "--name-only", commit, f"{p}/{PACKAGE}".lstrip("/"))),
                      None)
        if prefix is None:
            raise VersionError(f"{ref}: no {PACKAGE}/ or src/{PACKAGE}/ in that commit")
        tree = f"{commit}:{prefix}" if prefix else commit
        archive = git("archive", "--format=tar", tree, PACKAGE)

        def fill(staging: Path) -> None:
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                tar.extractall(staging, filter="data")

        return self._record(fill, f"git:{ref} ({commit[:10]})")
