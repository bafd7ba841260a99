"""A bad dashboard definition stops an app instance's start-up itself, not only the loader
(tests/unit/test_dashboard_specs.py checks each kind of mistake's message).

The instance runs from a copy of the package whose sales dashboard has one mistake, through PYTHONPATH,
as a deployed application version does (control/versions.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import lakefront
from support import free_port

MISTAKE = "dashboard sales: colour: Extra inputs are not permitted"


def _broken_copy(root: Path) -> Path:
    source = Path(lakefront.__file__).parent
    shutil.copytree(source, root / "lakefront", ignore=shutil.ignore_patterns("__pycache__"))
    sales = root / "lakefront" / "analytics" / "dashboards" / "sales.toml"
    sales.write_text('colour = "red"\n' + sales.read_text(encoding="utf-8"), encoding="utf-8")
    return root


def test_an_app_instance_with_a_bad_dashboard_exits_2_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEFRONT_")}
    env |= {"PYTHONPATH": str(_broken_copy(tmp_path / "src")), "LAKEFRONT_VAR_DIR": str(tmp_path / "var"),
            "LAKEFRONT_CONFIG": str(tmp_path / "no-lakefront.toml")}
    port = free_port()
    done = subprocess.run([sys.executable, "-m", "lakefront", "serve", "app", "--port", str(port)], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and MISTAKE in lines[0], done.stderr
    assert "Traceback" not in done.stderr + done.stdout
