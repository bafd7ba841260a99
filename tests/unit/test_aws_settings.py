"""The aws profile's settings: its defaults, what it refuses, and that embedded and services are unchanged."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from test_settings import _clean_env  # noqa: F401  (autouse: no LAKEFRONT_* variable, no lakefront.toml)

from lakefront.data.aws_secrets import database_urls, resolve_secrets, with_redis_token
from lakefront.data.endpoints import writer_url
from lakefront.deploy.aws.jobs import JobError, job_driver, pascal
from lakefront.settings import Profile, SettingsError, load_settings


def test_the_aws_profile_defaults_to_redis_s3_spark_and_the_instance_role() -> None:
    s = load_settings(profile="aws", db={"writer_url": "mysql+pymysql://u:p@db.internal:3406/lakefront"})
    assert (s.cache_backend, s.objects_backend, s.process_engine) == ("redis", "s3", "spark")
    assert s.objects.access_key == "" and s.objects.secret_key.get_secret_value() == ""
    assert s.s3_endpoint is None  # Amazon S3 in the region, not a local SeaweedFS
    assert s.managed_servers() == []


def test_s3_keys_given_on_purpose_are_kept_in_the_aws_profile() -> None:
    s = load_settings(profile="aws", objects={"access_key": "AKIAEXAMPLE", "secret_key": "shh"})
    assert (s.objects.access_key, s.objects.secret_key.get_secret_value()) == ("AKIAEXAMPLE", "shh")


@pytest.mark.parametrize("profile", [Profile.embedded, Profile.services])
def test_embedded_and_services_keep_their_defaults(profile: Profile) -> None:
    s = load_settings(profile=profile)
    assert s.objects.access_key == "lakefront" and s.objects.secret_key.get_secret_value() == "lakefront-secret"
    assert s.internal_url == "http://127.0.0.1:8081"
    assert resolve_secrets(s, client=object()) is s  # no Secrets Manager outside the aws profile


def test_an_aws_instance_without_a_database_refuses_rather_than_using_a_local_sqlite_file() -> None:
    s = load_settings(profile="aws")
    with pytest.raises(SettingsError, match=r"^the aws profile needs db\.writer_url or aws\.db_secret"):
        _ = writer_url(s)


def test_web_instances_reach_the_app_tier_at_the_internal_alb_they_are_given() -> None:
    s = load_settings(profile="aws", aws={"app_url": "http://internal-lakefront.eu-west-1.elb.amazonaws.com/"})
    assert s.internal_url == "http://internal-lakefront.eu-west-1.elb.amazonaws.com"


@pytest.mark.parametrize(("field", "value"), [("region", "Europe"), ("domain", "not a domain"),
                                              ("quicksight_principal", "arn:aws:iam::1:user/x")])
def test_a_bad_aws_setting_is_one_line_naming_it(field: str, value: str) -> None:
    with pytest.raises(SettingsError, match=rf"^invalid setting aws\.{field}: "):
        load_settings(aws={field: value})


def test_database_urls_escape_the_password_and_point_the_reader_at_the_replica() -> None:
    s = load_settings(profile="aws", db={"name": "shop"},
                      aws={"db_reader_host": "replica.internal", "db_ca_file": "/etc/pki/rds.pem"})
    writer, reader = database_urls(s, {"username": "lakefront", "password": "a@b:c/d%e", "host": "primary.internal",
                                       "port": 3406})
    for url, host in ((writer, "primary.internal"), (reader, "replica.internal")):
        parsed = make_url(url)
        assert (parsed.username, parsed.password, parsed.host, parsed.port, parsed.database) == (
            "lakefront", "a@b:c/d%e", host, 3406, "shop")
        assert parsed.query == {"charset": "utf8mb4", "ssl_ca": "/etc/pki/rds.pem"}


def test_the_redis_token_becomes_the_urls_password_replacing_none_other() -> None:
    assert with_redis_token("rediss://cache.internal:6390/0", "a/b@c") == "rediss://:a%2Fb%40c@cache.internal:6390/0"


def test_a_job_driver_names_the_step_and_step_functions_gets_it_in_pascal_case() -> None:
    driver = job_driver("s3://assets/emr_main.py", "process")
    assert driver == {"sparkSubmit": {"entryPoint": "s3://assets/emr_main.py", "entryPointArguments": ["process"]}}
    assert pascal(driver) == {"SparkSubmit": {"EntryPoint": "s3://assets/emr_main.py",
                                              "EntryPointArguments": ["process"]}}
    with pytest.raises(JobError, match=r"^unknown step 'load': choose one of extract, process$"):
        job_driver("s3://assets/emr_main.py", "load")


def test_lakefront_up_refuses_the_aws_profile_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEFRONT_")} | {
        "LAKEFRONT_VAR_DIR": str(tmp_path / "var")}
    lakefront = Path(sys.executable).parent / "lakefront"
    result = subprocess.run([str(lakefront), "up", "--profile", "aws"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "lakefront: the aws profile runs on AWS, not on this machine: `lakefront aws deploy` deploys it"]
    assert not (tmp_path / "var" / "run").exists()
