"""The synthesized stack under the three scanners (cdk-nag, cfn-lint, checkov) and the pinned CDK CLI.

Each scanner reads the session's one synthesis. The accepted findings are listed, with their reasons, in
docs/aws.md; here every one of them must carry a reason and nothing else may be reported.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from aws_assembly import Assembly, assembly  # noqa: F401  (fixture)

from lakefront.deploy.aws.bundle import repo_root

CFN_LINT = Path(sys.executable).parent / "cfn-lint"
CHECKOV = repo_root() / ".venv-checkov" / "bin" / "checkov"
CDK = repo_root() / "node_modules" / ".bin" / "cdk"
CHECKOV_SKIPS = {"CKV_AWS_260", "CKV_AWS_18", "CKV_AWS_16"}
"""Per-resource skips in the template's Metadata (deploy/aws/nag.py), each with its reason."""
CFN_LINT_IGNORED = "W3005"
"""DependsOn that a Ref already implies: CDK itself adds them (ASG scaling policy, state machine role)."""
OFFLINE = {
    # Nothing here may reach out: no instance metadata, no credentials, no telemetry or version checks.
    "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "CDK_DISABLE_CLI_TELEMETRY": "true", "CDK_DISABLE_VERSION_CHECK": "true",
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
}


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAKEFRONT_"))} | OFFLINE


def test_cdk_nag_reports_no_finding_that_is_not_acknowledged_with_a_reason(assembly: Assembly) -> None:  # noqa: F811
    report = json.loads((assembly.directory / "validation-report.json").read_text())
    (nag,) = report["pluginReports"]
    assert nag["pluginName"] == "AwsSolutions" and nag["conclusion"] == "success"
    assert nag["violations"] == []
    acknowledged = nag["suppressedViolations"]
    assert acknowledged, "the report lists acknowledged findings; none at all means the plugin did not run"
    for finding in acknowledged:
        assert len(finding["reason"]) > 30, finding["ruleName"]
        # Scoped to a construct, never the whole stack: a new resource with the same problem is still reported.
        assert finding["acknowledgedAt"].count("/") >= 1, finding["ruleName"]


def test_cfn_lint_finds_no_error_and_no_warning_but_cdks_own_redundant_depends_on(assembly: Assembly) -> None:  # noqa: F811
    result = subprocess.run([str(CFN_LINT), "--format", "json", "--", str(assembly.template_file)],
                            capture_output=True, text=True, env=_env(), timeout=300)
    assert result.returncode in (0, 4), result.stderr  # cfn-lint's exit code: 2 errors, 4 warnings (a bit mask)
    findings = json.loads(result.stdout)
    assert [f for f in findings if f["Level"] == "Error"] == []
    assert {f["Rule"]["Id"] for f in findings} <= {CFN_LINT_IGNORED}
    clean = subprocess.run([str(CFN_LINT), "--ignore-checks", CFN_LINT_IGNORED, "--",
                            str(assembly.template_file)], capture_output=True, text=True, env=_env(), timeout=300)
    assert clean.returncode == 0, clean.stdout


def test_checkov_fails_no_check_and_skips_only_the_three_documented_ones(assembly: Assembly) -> None:  # noqa: F811
    if not CHECKOV.exists():
        pytest.fail(f"checkov is not installed at {CHECKOV}: `make test` creates .venv-checkov")
    result = subprocess.run([str(CHECKOV), "-f", str(assembly.template_file), "--framework", "cloudformation",
                             "--skip-download", "-o", "json"],
                            capture_output=True, text=True, env=_env(), timeout=300)
    report = json.loads(result.stdout)
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == [] and result.returncode == 0
    assert summary["passed"] > 200  # the scan really covered the template
    skipped = report["results"]["skipped_checks"]
    assert {c["check_id"] for c in skipped} == CHECKOV_SKIPS
    assert all(len(c["check_result"].get("suppress_comment", "")) > 30 for c in skipped)
    # docs/aws.md lists the checks that run: a check a new checkov brings is reviewed before it is accepted.
    documented = set(re.findall(r"\bCKV2?_AWS_[0-9]+\b", (repo_root() / "docs" / "aws.md").read_text()))
    ran = {c["check_id"] for kind in ("passed_checks", "failed_checks", "skipped_checks")
           for c in report["results"][kind]}
    assert ran == documented


def test_the_pinned_cdk_cli_reads_the_assembly_without_credentials(assembly: Assembly) -> None:  # noqa: F811
    if not CDK.exists():
        pytest.fail(f"the CDK CLI is not installed at {CDK}: `make test` runs npm ci")
    result = subprocess.run([str(CDK), "ls", "--app", str(assembly.directory), "--no-notices",
                             "--no-version-reporting", "--long"], capture_output=True, text=True, env=_env(),
                            timeout=120, cwd=Path(assembly.directory).parent)
    assert result.returncode == 0, result.stderr
    assert "name: Lakefront" in result.stdout and "region: eu-west-1" in result.stdout


def test_lakefront_aws_synth_writes_the_template_and_assets_without_credentials(tmp_path: Path) -> None:
    out = tmp_path / "cdk.out"
    env = _env() | {"LAKEFRONT_AWS__REGION": "eu-west-1", "LAKEFRONT_AWS__DOMAIN": "shop.example.com",
                    "LAKEFRONT_VAR_DIR": str(tmp_path / "var")}
    lakefront = Path(sys.executable).parent / "lakefront"
    result = subprocess.run([str(lakefront), "aws", "synth", "--out", str(out)], capture_output=True, text=True,
                            env=env, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    template = json.loads((out / "Lakefront.template.json").read_text())
    assert result.stdout.strip() == (f"wrote {out / 'Lakefront.template.json'} ({len(template['Resources'])} "
                                     "resources; cdk-nag AwsSolutions: no unacknowledged finding)")
    assert not [r for r in template["Resources"].values() if r["Type"].startswith("AWS::QuickSight::")]
    assets = json.loads((out / "Lakefront.assets.json").read_text())["files"]
    assert {Path(a["source"]["path"]).suffix for a in assets.values()} >= {".py"}  # the job entry point
    assert any((out / a["source"]["path"] / "Procfile").is_file() for a in assets.values())  # the bundle
