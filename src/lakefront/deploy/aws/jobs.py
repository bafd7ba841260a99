"""The pipeline's jobs on EMR Serverless: one job driver for the schedule and for `lakefront aws run`.

Both the Step Functions state machine (the schedule) and the CLI submit exactly `job_driver(...)`: the job
package's entry point with one argument, the step. Everything else a job needs (the packed virtualenv,
the LAKEFRONT_* environment) is the application's default spark-defaults, set once by the CDK app, so a
job started by hand runs with the same configuration as a scheduled one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

STEPS = ("extract", "process")
"""The pipeline, in order: the extract reads the read replica into lake/raw, then process runs the models."""
DONE = {"SUCCESS"}
FAILED = {"FAILED", "CANCELLED"}


class JobError(Exception):
    """A job could not be started or did not succeed; the message is one line naming the step."""


def job_driver(entry_point: str, step: str) -> dict[str, Any]:
    """EMR Serverless's JobDriver (boto3 spelling) for one step of the pipeline."""
    if step not in STEPS:
        raise JobError(f"unknown step {step!r}: choose one of {', '.join(STEPS)}")
    return {"sparkSubmit": {"entryPoint": entry_point, "entryPointArguments": [step]}}


def spark_defaults(venv_uri: str, env: Mapping[str, str]) -> dict[str, str]:
    """The application's default Spark configuration: the driver and executors run the packed virtualenv's
    Python, and the driver gets the environment the job's settings come from."""
    python = "./environment/bin/python"
    conf = {
        "spark.archives": f"{venv_uri}#environment",
        "spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON": python,
        "spark.emr-serverless.driverEnv.PYSPARK_PYTHON": python,
        "spark.executorEnv.PYSPARK_PYTHON": python,
    }
    conf |= {f"spark.emr-serverless.driverEnv.{key}": value for key, value in sorted(env.items())}
    return conf


def pascal(value: Any) -> Any:
    """boto3's camelCase request to the PascalCase Step Functions' service integrations expect."""
    if isinstance(value, dict):
        return {key[:1].upper() + key[1:]: pascal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [pascal(item) for item in value]
    return value


def start(client: Any, application_id: str, role_arn: str, entry_point: str, step: str) -> str:
    """Submit one step; returns the job run's id."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer = client.start_job_run(applicationId=application_id, executionRoleArn=role_arn,
                                      name=f"lakefront-{step}", jobDriver=job_driver(entry_point, step))
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise JobError(f"cannot start {step}: {error.get('Code', 'error')}: {error.get('Message', '')}") from None
    except BotoCoreError as exc:
        raise JobError(f"cannot start {step}: {exc}") from None
    return str(answer["jobRunId"])


def wait(client: Any, application_id: str, run_id: str, step: str, *, poll_s: float = 15.0,
         timeout_s: float = 6 * 3600, sleep: Callable[[float], None] = time.sleep) -> str:
    """Poll the job run until it ends; returns SUCCESS or raises JobError with its state and details."""
    deadline = time.monotonic() + timeout_s
    while True:
        run = client.get_job_run(applicationId=application_id, jobRunId=run_id)["jobRun"]
        state = str(run["state"])
        if state in DONE:
            return state
        if state in FAILED:
            raise JobError(f"{step} job {run_id} {state.lower()}: {run.get('stateDetails') or 'no details'}")
        if time.monotonic() > deadline:
            raise JobError(f"{step} job {run_id} still {state.lower()} after {timeout_s:.0f}s")
        sleep(poll_s)


def run_pipeline(client: Any, application_id: str, role_arn: str, entry_point: str,
                 steps: tuple[str, ...] = STEPS, *, echo: Callable[[str], None] = print,
                 poll_s: float = 15.0) -> list[str]:
    """Run the steps one after the other, as the schedule does; returns the job run ids."""
    ids = []
    for step in steps:
        run_id = start(client, application_id, role_arn, entry_point, step)
        echo(f"{step}: job {run_id} started")
        echo(f"{step}: job {run_id} {wait(client, application_id, run_id, step, poll_s=poll_s).lower()}")
        ids.append(run_id)
    return ids
