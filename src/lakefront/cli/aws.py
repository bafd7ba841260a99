"""`lakefront aws ...`: synthesize, diff, deploy and destroy the AWS deployment; run its pipeline."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from lakefront.cli.common import UserError, settings_from_cli
from lakefront.settings import Settings

OUT_HELP = "Where the cloud assembly (templates and assets) is written."
STEP_COMMANDS: dict[str, list[list[str]]] = {
    "extract": [["extract"]],
    # Glue is the lake's Iceberg catalog: a mart's commit is what Athena and QuickSight read next, no publish step.
    "process": [["process", "--engine", "spark"]],
}
"""What each pipeline step runs inside its EMR Serverless job (deploy/aws/emr_main.py): existing commands."""


def _client(settings: Settings, service: str) -> Any:
    import boto3

    return boto3.client(service, region_name=settings.aws.region)


def _synth(settings: Settings, out: Path) -> Path:
    if not settings.aws.region:
        raise UserError("`lakefront aws` needs aws.region (LAKEFRONT_AWS__REGION), e.g. eu-west-1")
    if not settings.aws.domain:
        raise UserError("`lakefront aws` needs aws.domain (LAKEFRONT_AWS__DOMAIN), the shop's public name")
    try:
        from lakefront.deploy.aws.app import synth
    except ImportError as exc:
        raise UserError(f"the CDK app needs the aws extra (pip install 'lakefront[aws]'): {exc}") from None
    if out.exists():
        shutil.rmtree(out)  # a stale asset of an earlier synth must not be deployed
    try:
        return synth(settings, out)
    except RuntimeError as exc:
        if "ValidationFailed" in str(exc):
            raise UserError(f"cdk-nag found unacknowledged findings: see {out / 'validation-report.json'}") from None
        raise


def _cdk_cli(explicit: Path | None) -> str:
    """The CDK CLI: --cdk, else the checkout's node_modules (package.json pins it), else one on PATH."""
    from lakefront.deploy.aws.bundle import repo_root

    if explicit is not None:
        return str(explicit)
    local = repo_root() / "node_modules" / ".bin" / "cdk"
    found = str(local) if local.exists() else shutil.which("cdk")
    if found is None:
        raise UserError("the CDK CLI is not installed: run `npm ci` in the checkout (package.json pins aws-cdk)")
    return found


def _require_credentials(settings: Settings, command: str) -> None:
    import boto3

    session = boto3.session.Session(region_name=settings.aws.region)
    if session.get_credentials() is None:
        raise UserError(f"`lakefront aws {command}` needs AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID or an "
                        "instance role); none found")


def _run_cdk(command: str, out: Path, cdk: Path | None) -> None:
    settings = settings_from_cli()
    _require_credentials(settings, command)
    cli = _cdk_cli(cdk)
    _synth(settings, out)
    # The CLI deploys the assembly just synthesized: it never runs the Python app a second time.
    stacks = [] if command == "bootstrap" else [settings.aws.stack_name]  # bootstrap takes environments
    # The project's pinned CDK CLI with a fixed argv (no shell); the stack name is a validated setting.
    result = subprocess.run([cli, command, "--app", str(out), *stacks], check=False)  # nosec B603
    if result.returncode != 0:
        raise UserError(f"cdk {command} failed (exit {result.returncode})")


CDK_COMMANDS = {
    "bootstrap": "Prepare the account and region for CDK deployments (once per account and region).",
    "diff": "Compare the synthesized stack with what is deployed.",
    "deploy": "Deploy the stack and its assets (the release bundle, the job entry point).",
    "destroy": "Delete the stack. The buckets, the database's final snapshot and the KMS key stay.",
}


def _cdk_command(name: str, doc: str) -> Callable[..., None]:
    def command(out: Path = typer.Option(Path("cdk.out"), "--out", help=OUT_HELP),
                cdk: Path | None = typer.Option(None, "--cdk", help="CDK CLI. Default: the checkout's.")) -> None:
        _run_cdk(name, out, cdk)

    command.__doc__ = f"{doc} Needs AWS credentials."
    return command


def register(app: typer.Typer) -> None:
    aws_app = typer.Typer(help="The AWS deployment: a CDK app (synth, diff, deploy, destroy) and its pipeline.",
                          no_args_is_help=True)

    @aws_app.command("synth")
    def synth_cmd(out: Path = typer.Option(Path("cdk.out"), "--out", help=OUT_HELP)) -> None:
        """Write the CloudFormation template and assets; cdk-nag's AwsSolutions checks must pass. No credentials."""
        import json

        template = _synth(settings_from_cli(), out)
        resources = len(json.loads(template.read_text())["Resources"])
        typer.echo(f"wrote {template} ({resources} resources; cdk-nag AwsSolutions: no unacknowledged finding)")

    for name, doc in CDK_COMMANDS.items():
        aws_app.command(name)(_cdk_command(name, doc))

    @aws_app.command("run")
    def run_cmd(
        steps: list[str] | None = typer.Argument(None, help="Steps to run, in order. Default: extract process."),
    ) -> None:
        """Run the pipeline's jobs on EMR Serverless now, as the schedule does, and wait for each."""
        from lakefront.deploy.aws.jobs import STEPS, JobError, run_pipeline

        settings = settings_from_cli()
        aws = settings.aws
        missing = [name for name in ("emr_application_id", "emr_job_role_arn", "emr_entry_point")
                   if not getattr(aws, name)]
        if missing:
            raise UserError("`lakefront aws run` needs " + ", ".join(f"aws.{name}" for name in missing) +
                            " (the stack's outputs)")
        _require_credentials(settings, "run")
        try:
            run_pipeline(_client(settings, "emr-serverless"), str(aws.emr_application_id),
                         str(aws.emr_job_role_arn), str(aws.emr_entry_point), tuple(steps or STEPS), echo=typer.echo)
        except JobError as exc:
            raise UserError(str(exc)) from None

    app.add_typer(aws_app, name="aws")
