"""Installing as a user would: `pip install .` with no extras, into a fresh venv, gives a working CLI and extract.

The venv is built once per session from a copy of the source tree (so the build leaves nothing in the
worktree), with the project's constraints file and pip's own cache: no network is needed once the cache
holds the wheels, and no wheel from the development venv leaks in. It takes a minute or two (pyspark is
most of it), so it is marked `install`; `make test` runs it like every other test.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import lakefront_env

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.install, pytest.mark.timeout(1200)]


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def user_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding `pip install -c constraints.txt <source>` and nothing else; its bin directory."""
    base = tmp_path_factory.mktemp("install")
    source = base / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"))
    venv = base / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)])
    assert made.returncode == 0, made.stderr
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--progress-bar", "off",
           "-c", str(ROOT / "constraints.txt"), str(source)]
    print("installing into a fresh venv:", " ".join(pip), flush=True)
    installed = _run(pip, timeout=1100)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    # The SPDX form of the licence: the old table form made setuptools print a deprecation wall.
    assert "project.license" not in installed.stdout + installed.stderr
    return venv / "bin"


def test_plain_install_declares_the_license_as_an_spdx_expression(user_venv: Path) -> None:
    shown = _run([str(user_venv / "python"), "-c",
                  "import importlib.metadata as m; print(m.metadata('lakefront')['License-Expression'])"])
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "MIT"


def test_plain_install_gives_the_cli_and_the_default_extract_reader(user_venv: Path) -> None:
    helped = _run([str(user_venv / "lakefront"), "--help"], env={"COLUMNS": "100", "PATH": str(user_venv)})
    assert helped.returncode == 0, helped.stderr
    for command in ("up", "down", "status", "extract", "process", "pipeline"):
        assert f" {command} " in helped.stdout, command
    imported = _run([str(user_venv / "python"), "-c",
                     "from lakefront.analytics.extract import source; "
                     "assert source._connectorx() is not None, 'connectorx missing'; "
                     "import lakefront.cli.main; print('ok')"])
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == "ok"


def test_plain_install_extracts_a_seeded_store_through_connectorx(user_venv: Path, tmp_path: Path) -> None:
    env = lakefront_env(tmp_path / "var")
    lakefront = str(user_venv / "lakefront")
    for argv in ([lakefront, "db", "migrate"], [lakefront, "seed", "--scale", "0.01"]):
        done = _run(argv, env=env, cwd=tmp_path, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
    extracted = _run([lakefront, "extract", "--tables", "categories,products"], env=env, cwd=tmp_path, timeout=600)
    assert extracted.returncode == 0, extracted.stderr[-2000:]
    assert "connectorx is not installed" not in extracted.stdout + extracted.stderr
    counted = _run([lakefront, "sql", "SELECT count(*) AS n FROM raw_products"], env=env, cwd=tmp_path, timeout=300)
    assert counted.returncode == 0, counted.stderr[-2000:]
    numbers = [int(word) for word in counted.stdout.replace("│", " ").replace("|", " ").split() if word.isdigit()]
    assert numbers and numbers[-1] > 0, counted.stdout
