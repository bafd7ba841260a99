"""The aws profile's boto3 code paths against a local AWS API (moto's server, a real HTTP endpoint).

Secrets Manager at start-up (and the URLs it builds, used against a real MariaDB), EMR Serverless job
submission (`lakefront aws run`), the lake on S3 with Glue as its Iceberg catalog (the pipeline creates and
commits the tables Athena and QuickSight read), and the CLI's one-line refusals.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from lakefront.analytics.lake import Lake
from lakefront.data.aws_secrets import resolve_secrets
from lakefront.data.endpoints import reader_url, writer_url
from lakefront.data.engines import make_engine
from lakefront.deploy.aws.jobs import JobError, start, wait
from lakefront.deploy.aws.marts import ARROW_TO_GLUE, MARTS
from lakefront.settings import SettingsError, load_settings
from support import free_port, lakefront_env, run_cli, wait_http
from support.servers import MariaDBHandle

REGION = "eu-west-1"
ROLE = "arn:aws:iam::123456789012:role/lakefront-jobs"
ENTRY = "s3://assets/emr_main.py"


@pytest.fixture(scope="module")
def aws_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """moto's server on a free loopback port; the environment that points boto3 (and the CLI) at it."""
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/moto-api/", timeout=30, proc=proc)
        yield {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true",
               "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture
def aws_env(aws_api: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key in [k for k in os.environ if k.startswith(("AWS_", "LAKEFRONT_"))]:
        monkeypatch.delenv(key)
    for key, value in aws_api.items():
        monkeypatch.setenv(key, value)
    return aws_api


def _client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


def _secret(name: str, value: dict[str, Any]) -> str:
    return str(_client("secretsmanager").create_secret(Name=name, SecretString=json.dumps(value))["ARN"])


def test_the_aws_profile_builds_working_database_urls_from_the_secret_at_start_up(
        aws_env: dict[str, str], mariadb_server: MariaDBHandle) -> None:
    password = "p@ss:w/rd%?#&+ x"  # what a URL must escape
    mariadb_server.server.ensure_database("aws_profile", "lf_aws", password)
    arn = _secret("lakefront/db", {"username": "lf_aws", "password": password, "host": "127.0.0.1",
                                   "port": mariadb_server.port, "engine": "mysql"})
    settings = load_settings(profile="aws", db={"name": "aws_profile"},
                             aws={"region": REGION, "db_secret": arn, "db_reader_host": "localhost"})
    resolved = resolve_secrets(settings)
    writer, reader = make_url(writer_url(resolved)), make_url(reader_url(resolved))
    assert (writer.password, writer.host, writer.port) == (password, "127.0.0.1", mariadb_server.port)
    assert (reader.password, reader.host) == (password, "localhost")
    for url in (writer_url(resolved), reader_url(resolved)):
        engine = make_engine(url, write=False)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT DATABASE(), CURRENT_USER()")).one() == ("aws_profile", "lf_aws@%")
        engine.dispose()


def test_the_aws_profile_adds_the_cache_token_and_the_session_key_from_their_secrets(aws_env: dict[str, str]) -> None:
    cache = _secret("lakefront/cache", {"token": "T0ken/with@odd+chars"})
    session = _secret("lakefront/session", {"key": "k" * 64})
    settings = load_settings(profile="aws", db={"writer_url": "sqlite:///unused.sqlite3"},
                             cache={"redis_url": "rediss://master.example.internal:6390/0"},
                             aws={"region": REGION, "cache_secret": cache, "session_secret": session})
    resolved = resolve_secrets(settings)
    import redis

    pool = redis.ConnectionPool.from_url(resolved.redis_url)
    kwargs = pool.connection_kwargs
    assert (kwargs["password"], kwargs["host"], kwargs["port"]) == ("T0ken/with@odd+chars", "master.example.internal",
                                                                    6390)
    assert pool.connection_class is redis.SSLConnection
    assert resolved.secret() == "k" * 64
    assert writer_url(resolved) == "sqlite:///unused.sqlite3"  # given directly: no secret needed, none read


def test_a_secret_that_cannot_be_read_stops_start_up_with_one_line_naming_it(aws_env: dict[str, str],
                                                                               tmp_path: Path) -> None:
    settings = load_settings(profile="aws", aws={"region": REGION, "db_secret": "lakefront/missing"})
    with pytest.raises(SettingsError, match=r"^cannot read secret lakefront/missing: ResourceNotFoundException$"):
        resolve_secrets(settings)
    env = lakefront_env(tmp_path, **aws_env, LAKEFRONT_PROFILE="aws", LAKEFRONT_AWS__REGION=REGION,
                        LAKEFRONT_AWS__DB_SECRET="lakefront/missing")
    result = run_cli(tmp_path, "serve", "app", "--port", str(free_port()), env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "lakefront: cannot read secret lakefront/missing: ResourceNotFoundException"]


def test_lakefront_aws_run_submits_extract_then_process_to_emr_serverless(aws_env: dict[str, str],
                                                                         tmp_path: Path) -> None:
    emr = _client("emr-serverless")
    app_id = emr.create_application(name="lakefront", releaseLabel="emr-7.12.0", type="SPARK")["applicationId"]
    env = lakefront_env(tmp_path, **aws_env, LAKEFRONT_PROFILE="aws", LAKEFRONT_AWS__REGION=REGION,
                        LAKEFRONT_DB__WRITER_URL="sqlite:///unused.sqlite3",
                        LAKEFRONT_AWS__EMR_APPLICATION_ID=app_id, LAKEFRONT_AWS__EMR_JOB_ROLE_ARN=ROLE,
                        LAKEFRONT_AWS__EMR_ENTRY_POINT=ENTRY)
    result = run_cli(tmp_path, "aws", "run", env=env)
    assert result.returncode == 0, result.stderr
    runs = sorted(emr.list_job_runs(applicationId=app_id)["jobRuns"], key=lambda run: run["createdAt"])
    submitted = [emr.get_job_run(applicationId=app_id, jobRunId=run["id"])["jobRun"] for run in runs]
    assert [(r["name"], r["executionRole"], r["jobDriver"]["sparkSubmit"]) for r in submitted] == [
        ("lakefront-extract", ROLE, {"entryPoint": ENTRY, "entryPointArguments": ["extract"]}),
        ("lakefront-process", ROLE, {"entryPoint": ENTRY, "entryPointArguments": ["process"]}),
    ]
    ids = {r["name"].removeprefix("lakefront-"): r["jobRunId"] for r in submitted}
    assert result.stdout.splitlines() == [
        f"extract: job {ids['extract']} started", f"extract: job {ids['extract']} success",
        f"process: job {ids['process']} started", f"process: job {ids['process']} success"]


def test_a_cancelled_job_fails_its_step_with_the_state_it_ended_in(aws_env: dict[str, str]) -> None:
    emr = _client("emr-serverless")
    app_id = emr.create_application(name="cancelled", releaseLabel="emr-7.12.0", type="SPARK")["applicationId"]
    run_id = start(emr, app_id, ROLE, ENTRY, "extract")
    emr.cancel_job_run(applicationId=app_id, jobRunId=run_id)
    with pytest.raises(JobError, match=f"^extract job {run_id} cancelled: "):
        wait(emr, app_id, run_id, "extract", sleep=lambda _s: None)


def test_a_job_for_an_unknown_application_is_refused_in_one_line(aws_env: dict[str, str]) -> None:
    with pytest.raises(JobError, match=r"^cannot start process: ResourceNotFoundException"):
        start(_client("emr-serverless"), "00nonexistent", ROLE, ENTRY, "process")


def test_the_pipeline_on_s3_commits_every_mart_as_an_iceberg_table_in_glue_with_the_declared_columns(
        aws_env: dict[str, str], tmp_path: Path) -> None:
    bucket, images = "lakefront-lake-test", "lakefront-images-test"
    for name in (bucket, images):
        _client("s3").create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    # The database is the CDK app's (deploy/aws/dashboards.py); the tables are the pipeline's.
    _client("glue").create_database(DatabaseInput={"Name": "lakefront"})
    env = lakefront_env(
        tmp_path, **aws_env, LAKEFRONT_PROFILE="aws", LAKEFRONT_AWS__REGION=REGION,
        LAKEFRONT_DB__WRITER_URL=f"sqlite:///{tmp_path / 'shop.sqlite3'}", LAKEFRONT_CACHE__BACKEND="off",
        LAKEFRONT_OBJECTS__S3_ENDPOINT=aws_env["AWS_ENDPOINT_URL"], LAKEFRONT_OBJECTS__REGION=REGION,
        LAKEFRONT_OBJECTS__LAKE_BUCKET=bucket, LAKEFRONT_OBJECTS__IMAGES_BUCKET=images,
        LAKEFRONT_OBJECTS__ACCESS_KEY="testing",
        LAKEFRONT_OBJECTS__SECRET_KEY="testing", LAKEFRONT_PROCESS__ENGINE="duckdb")
    for args in (("seed", "--scale", "0.01", "--until", "2026-06-30"), ("pipeline",)):
        result = run_cli(tmp_path, *args, env=env, timeout=300)
        assert result.returncode == 0, f"{args}: {result.stderr}"

    glue = _client("glue")
    tables = {t["Name"]: t for t in glue.get_tables(DatabaseName="lakefront")["TableList"]}
    assert set(MARTS) <= set(tables) and {"raw_orders", "raw_events"} <= set(tables)
    settings = load_settings(profile="aws", aws={"region": REGION}, objects={
        "s3_endpoint": aws_env["AWS_ENDPOINT_URL"], "region": REGION, "lake_bucket": bucket,
        "images_bucket": images, "access_key": "testing", "secret_key": "testing"})
    with Lake(settings) as lake:
        for model, columns in MARTS.items():
            parameters = tables[model]["Parameters"]
            assert parameters["table_type"].upper() == "ICEBERG", model
            assert parameters["metadata_location"].startswith(f"s3://{bucket}/lake/marts/{model}/metadata/")
            commit = lake.last_commit(model)
            assert commit is not None and commit.rows == lake.read(model).num_rows > 0, model
            assert [(f.name, ARROW_TO_GLUE[str(f.type)]) for f in commit.schema] == list(columns), model

    again = run_cli(tmp_path, "process", env=env, timeout=300)
    assert again.returncode == 0, again.stderr
    unchanged = {t["Name"]: t["Parameters"]["metadata_location"]
                 for t in glue.get_tables(DatabaseName="lakefront")["TableList"]}
    assert all(unchanged[m] == tables[m]["Parameters"]["metadata_location"] for m in MARTS)


def test_deploy_without_credentials_fails_with_one_clear_line(tmp_path: Path) -> None:
    env = lakefront_env(tmp_path, LAKEFRONT_AWS__REGION=REGION, LAKEFRONT_AWS__DOMAIN="shop.example.com",
                        AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE=os.devnull,
                        AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    env = {k: v for k, v in env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE",
                                                      "AWS_SESSION_TOKEN")}
    for command in ("diff", "deploy", "destroy"):
        result = run_cli(tmp_path, "aws", command, env=env)
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [
            f"lakefront: `lakefront aws {command}` needs AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID or an "
            "instance role); none found"]


def test_aws_run_without_the_stacks_outputs_names_each_missing_setting(tmp_path: Path) -> None:
    env = lakefront_env(tmp_path, LAKEFRONT_AWS__EMR_APPLICATION_ID="00abc")
    result = run_cli(tmp_path, "aws", "run", env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == ("lakefront: `lakefront aws run` needs aws.emr_job_role_arn, aws.emr_entry_point "
                                     "(the stack's outputs)")
