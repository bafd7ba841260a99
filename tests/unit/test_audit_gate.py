"""The dependency audit gate (scripts/audit) judges pip-audit's report: what fails it and what does not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "audit"


def judge(tmp_path: Path, deps: list[dict[str, object]], strict: bool = False) -> subprocess.CompletedProcess[str]:
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"dependencies": deps, "fixes": []}))
    env = {"LAKEFRONT_AUDIT_STRICT": "1"} if strict else {}
    return subprocess.run([sys.executable, str(SCRIPT), "--report", str(report)], capture_output=True, text=True,
                          env=env, check=False)


def test_a_known_vulnerability_fails_the_audit_and_names_the_fix(tmp_path: Path) -> None:
    done = judge(tmp_path, [
        {"name": "jinja2", "version": "3.1.2", "vulns": [{"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"]}]},
        {"name": "httpx", "version": "0.28.1", "vulns": []}])
    assert done.returncode == 1
    assert "jinja2 3.1.2: GHSA-h5c8-rqwp-cp95 (fixed in 3.1.3)" in done.stdout
    assert "2 of 2 pinned packages audited, 1 known vulnerabilities" in done.stdout


def test_clean_packages_pass(tmp_path: Path) -> None:
    done = judge(tmp_path, [{"name": "httpx", "version": "0.28.1", "vulns": []}])
    assert done.returncode == 0, done.stdout


def test_packages_the_service_could_not_answer_for_are_reported_and_fail_in_strict_mode(tmp_path: Path) -> None:
    deps: list[dict[str, object]] = [{"name": "alembic", "skip_reason": "Dependency not found on PyPI"}]
    lenient, strict = judge(tmp_path, deps), judge(tmp_path, deps, strict=True)
    assert "0 of 1 pinned packages audited" in lenient.stdout
    assert "not audited (1)" in lenient.stderr
    assert lenient.returncode == 0
    assert strict.returncode == 1
