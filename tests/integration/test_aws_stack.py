"""The synthesized CloudFormation: every component of the seed architecture, its security, and the wiring.

One synthesis per session (aws_assembly.assembly); assertions read the template CloudFormation would get.
"""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest
from aws_assembly import DOMAIN, PRINCIPAL, Assembly, assembly, flatten  # noqa: F401  (fixture)
from pydantic import BaseModel

from lakefront.deploy.aws.bundle import repo_root
from lakefront.deploy.aws.marts import DATASETS, MARTS, QUICKSIGHT_TYPES
from lakefront.settings import Settings


def _props(res: dict[str, Any]) -> dict[str, Any]:
    return dict(res["Properties"])


def _ref(logical_id: str) -> dict[str, str]:
    return {"Ref": logical_id}


def _options(a: Assembly) -> dict[tuple[str, str], str]:
    _, env = a.one("AWS::ElasticBeanstalk::Environment")
    return {(o["Namespace"], o["OptionName"]): flatten(o["Value"]) for o in _props(env)["OptionSettings"]}


def _group_ids(a: Assembly) -> dict[str, str]:
    net = a.stack.node.find_child("Network")
    return {name: a.logical_id(getattr(net, name))
            for name in ("public_alb", "web", "app_alb", "app", "jobs", "database", "cache")}


def test_route53_alias_points_the_shops_name_at_the_public_alb_with_a_dns_validated_certificate(a: Assembly) -> None:
    zone_id, zone = a.one("AWS::Route53::HostedZone")
    assert _props(zone)["Name"] == f"{DOMAIN}."
    alb_id, _ = a.one("AWS::ElasticLoadBalancingV2::LoadBalancer")
    _, record = a.one("AWS::Route53::RecordSet")
    assert _props(record)["Type"] == "A" and _props(record)["Name"] == f"{DOMAIN}."
    assert _props(record)["HostedZoneId"] == _ref(zone_id)
    assert flatten(_props(record)["AliasTarget"]["DNSName"]).endswith(f"<{alb_id}.DNSName>")
    _, cert = a.one("AWS::CertificateManager::Certificate")
    assert _props(cert)["DomainName"] == DOMAIN and _props(cert)["ValidationMethod"] == "DNS"
    assert _props(cert)["DomainValidationOptions"] == [{"DomainName": DOMAIN, "HostedZoneId": _ref(zone_id)}]


def test_public_alb_serves_https_with_tls13_redirects_http_and_logs_to_the_logs_bucket(a: Assembly) -> None:
    _, alb = a.one("AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert _props(alb)["Scheme"] == "internet-facing"
    attributes = {item["Key"]: item["Value"] for item in _props(alb)["LoadBalancerAttributes"]}
    assert attributes["access_logs.s3.enabled"] == "true"
    assert attributes["access_logs.s3.bucket"] == _ref(a.logical_id(a.stack.node.find_child("Storage").logs))
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    # Both ALBs (this one and Beanstalk's internal one) write where ELB's log delivery is allowed to.
    assert attributes["access_logs.s3.prefix"] == _options(a)[("aws:elbv2:loadbalancer", "AccessLogsS3Prefix")]
    logs_policy = next(_props(p)["PolicyDocument"] for p in a.resources("AWS::S3::BucketPolicy").values()
                       if _props(p)["Bucket"] == attributes["access_logs.s3.bucket"])
    writes = [flatten(s["Resource"]) for s in logs_policy["Statement"] if s["Action"] == "s3:PutObject"]
    assert any(f"/{attributes['access_logs.s3.prefix']}/AWSLogs/" in resource for resource in writes)
    listeners = {_props(r)["Port"]: _props(r) for r in a.resources("AWS::ElasticLoadBalancingV2::Listener").values()}
    assert set(listeners) == {80, 443}
    https = listeners[443]
    assert https["Protocol"] == "HTTPS" and https["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-3-2021-06"
    assert https["Certificates"] == [{"CertificateArn": _ref(a.one("AWS::CertificateManager::Certificate")[0])}]
    redirect = listeners[80]["DefaultActions"]
    assert redirect == [{"Type": "redirect", "RedirectConfig": {"Port": "443", "Protocol": "HTTPS",
                                                                 "StatusCode": "HTTP_301"}}]


def test_web_tier_is_an_asg_behind_the_alb_health_checked_on_healthz_and_scaled_on_requests(a: Assembly) -> None:
    tg_id, tg = a.one("AWS::ElasticLoadBalancingV2::TargetGroup")
    assert (_props(tg)["HealthCheckPath"], _props(tg)["Port"], _props(tg)["Matcher"]) == (
        "/healthz", 8000, {"HttpCode": "200"})
    asg_id, asg = a.one("AWS::AutoScaling::AutoScalingGroup")
    props = _props(asg)
    assert (props["MinSize"], props["MaxSize"], props["DesiredCapacity"]) == ("2", "5", "3")
    assert props["TargetGroupARNs"] == [_ref(tg_id)] and props["HealthCheckType"] == "ELB"
    lt_id, _ = a.one("AWS::EC2::LaunchTemplate")
    assert props["LaunchTemplate"]["LaunchTemplateId"] == _ref(lt_id)
    _, policy = a.one("AWS::AutoScaling::ScalingPolicy")
    tracking = _props(policy)["TargetTrackingConfiguration"]
    assert _props(policy)["AutoScalingGroupName"] == _ref(asg_id)
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == "ALBRequestCountPerTarget"
    assert tracking["TargetValue"] == 700


def test_web_instances_install_this_release_and_run_lakefront_serve_web_with_the_app_tiers_url(a: Assembly) -> None:
    _, lt = a.one("AWS::EC2::LaunchTemplate")
    data = _props(lt)["LaunchTemplateData"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
    script = flatten(data["UserData"])
    bundle = a.stack.node.find_child("Bundle")
    assert f"{a.stack.resolve(bundle.s3_object_key)}" in script
    assert "pip install --quiet -c /opt/lakefront/src/constraints.txt /opt/lakefront/src" in script
    assert "ExecStart=/opt/lakefront/venv/bin/lakefront serve web --host 0.0.0.0 --port 8000" in script
    env_id = a.one("AWS::ElasticBeanstalk::Environment")[0]
    session_id = a.logical_id(a.stack.node.find_child("SessionKey"))
    for line in ("LAKEFRONT_PROFILE=aws", f"LAKEFRONT_AWS__APP_URL=http://<{env_id}.EndpointURL>",
                 f"LAKEFRONT_AWS__SESSION_SECRET=<Ref {session_id}>"):
        assert f"\n{line}" in script or f"'{line}" in script, line
    assert "DB_SECRET" not in script and "CACHE_SECRET" not in script  # the web tier never sees the data tier


def test_app_tier_is_a_beanstalk_environment_behind_an_internal_alb_rolling_with_enhanced_health(a: Assembly) -> None:
    app_id, _ = a.one("AWS::ElasticBeanstalk::Application")
    version_id, version = a.one("AWS::ElasticBeanstalk::ApplicationVersion")
    bundle = a.stack.node.find_child("Bundle")
    assert flatten(_props(version)["SourceBundle"]["S3Key"]) == a.stack.resolve(bundle.s3_object_key)
    _, env = a.one("AWS::ElasticBeanstalk::Environment")
    assert _props(env)["ApplicationName"] == _ref(app_id) and _props(env)["VersionLabel"] == _ref(version_id)
    assert "Python 3.11" in _props(env)["SolutionStackName"]
    options = _options(a)
    groups = _group_ids(a)
    expected = {
        ("aws:ec2:vpc", "ELBScheme"): "internal",
        ("aws:elasticbeanstalk:environment", "LoadBalancerType"): "application",
        ("aws:elasticbeanstalk:environment:process:default", "HealthCheckPath"): "/healthz",
        ("aws:elasticbeanstalk:command", "DeploymentPolicy"): "Rolling",
        ("aws:elasticbeanstalk:healthreporting:system", "SystemType"): "enhanced",
        ("aws:autoscaling:asg", "MinSize"): "2",
        ("aws:elbv2:loadbalancer", "SecurityGroups"): f"<{groups['app_alb']}.GroupId>",
        ("aws:autoscaling:launchconfiguration", "SecurityGroups"): f"<{groups['app']}.GroupId>",
        ("aws:autoscaling:launchconfiguration", "DisableIMDSv1"): "true",
    }
    assert {key: options.get(key) for key in expected} == expected


def test_app_bundle_runs_lakefront_serve_app_from_a_procfile_and_migrates_on_one_instance(a: Assembly) -> None:
    bundle = a.stack.node.find_child("Bundle")
    staged = a.directory / bundle.asset_path
    assert (staged / "Procfile").read_text().startswith("web: lakefront serve app --host 127.0.0.1 --port 8000")
    assert (staged / "requirements.txt").read_text().split() == ["-c", "constraints.txt", "."]
    assert (staged / "constraints.txt").read_text() == (repo_root() / "constraints.txt").read_text()
    assert (staged / "src" / "lakefront" / "cli" / "serve.py").is_file()
    assert not list(staged.rglob("__pycache__"))
    migrate = (staged / ".ebextensions" / "01-migrate.config").read_text()
    assert "lakefront db migrate" in migrate and "leader_only: true" in migrate


def test_app_instances_get_the_endpoints_and_secret_names_but_no_password(a: Assembly) -> None:
    options = _options(a)
    env = {name: value for (ns, name), value in options.items() if ns == "aws:elasticbeanstalk:application:environment"}
    rg_id, _ = a.one("AWS::ElastiCache::ReplicationGroup")
    db = a.stack.node.find_child("Database")
    storage = a.stack.node.find_child("Storage")
    assert env["LAKEFRONT_PROFILE"] == "aws"
    assert env["LAKEFRONT_CACHE__REDIS_URL"] == (
        f"rediss://<{rg_id}.PrimaryEndPoint.Address>:<{rg_id}.PrimaryEndPoint.Port>/0")
    assert env["LAKEFRONT_AWS__DB_READER_HOST"] == f"<{a.logical_id(db.replica)}.Endpoint.Address>"
    assert env["LAKEFRONT_AWS__DB_SECRET"] == flatten(a.stack.resolve(db.secret.secret_arn))
    assert env["LAKEFRONT_AWS__CACHE_SECRET"] == f"<Ref {a.logical_id(a.stack.node.find_child('Cache').token)}>"
    assert env["LAKEFRONT_AWS__DB_PORT"] == "3406"
    for bucket, name in ((storage.images, "IMAGES"), (storage.lake, "LAKE"), (storage.backups, "BACKUPS")):
        assert env[f"LAKEFRONT_OBJECTS__{name}_BUCKET"] == f"<Ref {a.logical_id(bucket)}>"
    assert not [name for name in env if "PASSWORD" in name or "TOKEN" in name]


def _field_exists(model: type[BaseModel], path: list[str]) -> bool:
    field = model.model_fields.get(path[0].lower())
    if field is None:
        return False
    if len(path) == 1:
        return True
    nested = next((t for t in (field.annotation, *get_args(field.annotation)) if isinstance(t, type)
                   and issubclass(t, BaseModel)), None)
    return nested is not None and _field_exists(nested, path[1:])


@pytest.mark.parametrize("tier", ["app_env", "web_env", "job_env"])
def test_every_variable_an_instance_gets_is_a_setting(a: Assembly, tier: str) -> None:
    env: dict[str, str] = getattr(a.stack, tier)
    unknown = {key for key in env if not _field_exists(Settings, key.removeprefix("LAKEFRONT_").split("__"))}
    assert not unknown
    assert all(key.startswith("LAKEFRONT_") for key in env)


def test_elasticache_is_multi_az_encrypted_both_ways_with_its_auth_token_from_secrets_manager(a: Assembly) -> None:
    _, group = a.one("AWS::ElastiCache::ReplicationGroup")
    props = _props(group)
    assert props["MultiAZEnabled"] is True and props["AutomaticFailoverEnabled"] is True
    assert props["NumCacheClusters"] == 2 and props["Engine"] == "redis" and props["Port"] == 6390
    assert props["TransitEncryptionEnabled"] is True and props["AtRestEncryptionEnabled"] is True
    token_id = a.logical_id(a.stack.node.find_child("Cache").token)
    assert flatten(props["AuthToken"]) == f"{{{{resolve:secretsmanager:<Ref {token_id}>:SecretString:token::}}}}"
    _, subnets = a.one("AWS::ElastiCache::SubnetGroup")
    assert _isolated(a, _props(subnets)["SubnetIds"])


def _subnet_ids(a: Assembly, kind: str) -> list[dict[str, str]]:
    from aws_cdk import aws_ec2 as ec2

    vpc = a.stack.node.find_child("Network").vpc
    subnet_type = {"private": ec2.SubnetType.PRIVATE_WITH_EGRESS, "isolated": ec2.SubnetType.PRIVATE_ISOLATED}[kind]
    return [a.stack.resolve(s.subnet_id) for s in vpc.select_subnets(subnet_type=subnet_type).subnets]


def _isolated(a: Assembly, ids: list[Any]) -> bool:
    return sorted(map(json.dumps, ids)) == sorted(map(json.dumps, _subnet_ids(a, "isolated")))


def test_rds_is_multi_az_encrypted_backed_up_protected_with_a_read_replica_and_tls_required(a: Assembly) -> None:
    db = a.stack.node.find_child("Database")
    instances = a.resources("AWS::RDS::DBInstance")
    primary, replica = _props(instances[a.logical_id(db.primary)]), _props(instances[a.logical_id(db.replica)])
    assert (primary["Engine"], primary["EngineVersion"]) == ("mysql", "8.4.9")
    for props in (primary, replica):
        assert props["MultiAZ"] is True and props["DeletionProtection"] is True
        assert props["PubliclyAccessible"] is False and props["Port"] == "3406"
        assert props["BackupRetentionPeriod"] == 7
    assert primary["StorageEncrypted"] is True and "KmsKeyId" in primary
    assert flatten(replica["SourceDBInstanceIdentifier"]).endswith(f":db:<Ref {a.logical_id(db.primary)}>")
    assert "MasterUserPassword" not in replica
    assert flatten(primary["MasterUserPassword"]).startswith("{{resolve:secretsmanager:")
    _, group = a.one("AWS::RDS::DBParameterGroup")
    assert _props(group)["Parameters"]["require_secure_transport"] == "1"
    subnet_groups = a.resources("AWS::RDS::DBSubnetGroup").values()
    assert all(_isolated(a, _props(g)["SubnetIds"]) for g in subnet_groups)


def test_buckets_are_private_encrypted_tls_only_and_the_data_ones_versioned(a: Assembly) -> None:
    storage = a.stack.node.find_child("Storage")
    buckets = a.resources("AWS::S3::Bucket")
    assert len(buckets) == 4
    for bucket in buckets.values():
        props = _props(bucket)
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    for name in ("images", "lake", "backups"):
        logging = _props(buckets[a.logical_id(getattr(storage, name))])["LoggingConfiguration"]
        assert logging["DestinationBucketName"] == _ref(a.logical_id(storage.logs))
    policies = [_props(p)["PolicyDocument"]["Statement"] for p in a.resources("AWS::S3::BucketPolicy").values()]
    assert len(policies) == 4
    assert all(any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
                   for s in statements) for statements in policies)


def test_raw_extracts_have_a_lifecycle_and_nothing_expires_current_data(a: Assembly) -> None:
    storage = a.stack.node.find_child("Storage")
    rules = _props(a.resources("AWS::S3::Bucket")[a.logical_id(storage.lake)])["LifecycleConfiguration"]["Rules"]
    raw = next(rule for rule in rules if rule.get("Prefix") == "lake/raw/")
    assert raw["Transitions"] == [{"StorageClass": "INTELLIGENT_TIERING", "TransitionInDays": 30}]
    expiring = [rule for rule in rules if "ExpirationInDays" in rule]
    assert [rule["Prefix"] for rule in expiring] == ["athena-results/"]  # recomputable query results only


def test_emr_serverless_runs_the_same_job_package_with_the_aws_profile_in_the_private_subnets(a: Assembly) -> None:
    _, app = a.one("AWS::EMRServerless::Application")
    props = _props(app)
    assert props["Type"] == "Spark" and props["ReleaseLabel"] == a.settings.aws.emr_release
    assert props["AutoStopConfiguration"] == {"Enabled": True, "IdleTimeoutMinutes": 15}
    network = props["NetworkConfiguration"]
    assert network["SecurityGroupIds"] == [{"Fn::GetAtt": [_group_ids(a)["jobs"], "GroupId"]}]
    assert sorted(map(json.dumps, network["SubnetIds"])) == sorted(map(json.dumps, _subnet_ids(a, "private")))
    (defaults,) = props["RuntimeConfiguration"]
    conf = {key: flatten(value) for key, value in defaults["Properties"].items()}
    assert defaults["Classification"] == "spark-defaults"
    assert conf["spark.archives"].endswith("/artifacts/emr/lakefront-venv.tar.gz#environment")
    assert conf["spark.emr-serverless.driverEnv.PYSPARK_PYTHON"] == "./environment/bin/python"
    assert conf["spark.emr-serverless.driverEnv.LAKEFRONT_PROFILE"] == "aws"
    assert conf["spark.emr-serverless.driverEnv.LAKEFRONT_EXTRACT__READER"] == "sqlalchemy"


def test_the_schedule_starts_a_state_machine_that_runs_extract_then_process(a: Assembly) -> None:
    machine_id, machine = a.one("AWS::StepFunctions::StateMachine")
    definition = json.loads(flatten(_props(machine)["DefinitionString"]))
    first = definition["States"][definition["StartAt"]]
    second = definition["States"][first["Next"]]
    assert second.get("End") is True
    entry = a.stack.node.find_child("JobEntryPoint")
    for state, step in ((first, "extract"), (second, "process")):
        assert state["Resource"] == "arn:aws:states:::emr-serverless:startJobRun.sync"
        driver = state["Parameters"]["JobDriver"]["SparkSubmit"]
        assert driver["EntryPointArguments"] == [step]
        assert driver["EntryPoint"] == flatten(a.stack.resolve(entry.s3_object_url))
    _, schedule = a.one("AWS::Scheduler::Schedule")
    assert _props(schedule)["ScheduleExpression"] == "rate(1 hour)"
    assert _props(schedule)["Target"]["Arn"] == _ref(machine_id)


def _glue_grants(a: Assembly, role: Any) -> set[str]:
    """The glue: actions a role's policies allow."""
    logical = a.logical_id(role)
    actions: set[str] = set()
    for res in a.resources("AWS::IAM::Policy").values():
        if {"Ref": logical} not in _props(res)["Roles"]:
            continue
        for statement in _props(res)["PolicyDocument"]["Statement"]:
            granted = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            actions.update(action for action in granted if action.startswith("glue:"))
    return actions


def test_glue_is_the_lakes_iceberg_catalog_and_athena_and_quicksight_cover_the_marts(a: Assembly) -> None:
    # The tables are the pipeline's (pyiceberg creates and commits them); the stack makes only their database.
    assert not a.resources("AWS::Glue::Table")
    _, database = a.one("AWS::Glue::Database")
    assert _props(database)["DatabaseInput"]["Name"] == a.settings.lake.namespace == "lakefront"
    assert a.stack.job_env["LAKEFRONT_LAKE__NAMESPACE"] == "lakefront"
    job = a.stack.node.find_child("Analytics").job_role
    app = a.stack.node.find_child("App").instance_role
    assert {"glue:CreateTable", "glue:UpdateTable", "glue:GetTable", "glue:GetTables"} <= _glue_grants(a, job)
    assert {"glue:GetTable", "glue:GetTables"} <= _glue_grants(a, app)
    assert not {"glue:CreateTable", "glue:UpdateTable", "glue:DeleteTable"} & _glue_grants(a, app)
    _, workgroup = a.one("AWS::Athena::WorkGroup")
    config = _props(workgroup)["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["ResultConfiguration"]["EncryptionConfiguration"] == {"EncryptionOption": "SSE_S3"}
    source_id, source = a.one("AWS::QuickSight::DataSource")
    assert _props(source)["Type"] == "ATHENA"
    assert _props(source)["DataSourceParameters"]["AthenaParameters"]["WorkGroup"] == "lakefront"
    assert _props(source)["Permissions"][0]["Principal"] == PRINCIPAL
    datasets = {_props(d)["Name"]: _props(d) for d in a.resources("AWS::QuickSight::DataSet").values()}
    assert set(datasets) == set(DATASETS)
    for name, dataset in datasets.items():
        (table,) = dataset["PhysicalTableMap"].values()
        relational = table["RelationalTable"]
        assert relational["DataSourceArn"] == {"Fn::GetAtt": [source_id, "Arn"]}
        assert (relational["Schema"], relational["Name"]) == ("lakefront", name)
        assert [(c["Name"], c["Type"]) for c in relational["InputColumns"]] == [
            (column, QUICKSIGHT_TYPES[kind]) for column, kind in MARTS[name]]


def test_each_tier_is_reachable_only_from_the_tier_in_front_of_it(a: Assembly) -> None:
    groups = {logical: name for name, logical in _group_ids(a).items()}
    rules = set()
    for logical, res in a.resources("AWS::EC2::SecurityGroup").items():
        for rule in _props(res).get("SecurityGroupIngress", []):
            rules.add((rule.get("CidrIp") or rule.get("CidrIpv6"), groups[logical], rule["FromPort"], rule["ToPort"]))
    for res in a.resources("AWS::EC2::SecurityGroupIngress").values():
        props = _props(res)
        rules.add((groups[props["SourceSecurityGroupId"]["Fn::GetAtt"][0]], groups[props["GroupId"]["Fn::GetAtt"][0]],
                   props["FromPort"], props["ToPort"]))
    assert rules == {
        ("0.0.0.0/0", "public_alb", 443, 443), ("0.0.0.0/0", "public_alb", 80, 80),
        ("public_alb", "web", 8000, 8000), ("web", "app_alb", 80, 80), ("app_alb", "app", 80, 80),
        ("app", "database", 3406, 3406), ("jobs", "database", 3406, 3406), ("app", "cache", 6390, 6390),
    }


def test_app_and_data_tiers_live_in_private_subnets_and_the_vpc_logs_its_flows(a: Assembly) -> None:
    _, asg = a.one("AWS::AutoScaling::AutoScalingGroup")
    private = sorted(map(json.dumps, _subnet_ids(a, "private")))
    assert sorted(map(json.dumps, _props(asg)["VPCZoneIdentifier"])) == private
    options = _options(a)
    assert options[("aws:ec2:vpc", "Subnets")] == options[("aws:ec2:vpc", "ELBSubnets")]
    assert options[("aws:ec2:vpc", "Subnets")] == ",".join(flatten(s) for s in _subnet_ids(a, "private"))
    assert options[("aws:ec2:vpc", "AssociatePublicIpAddress")] == "false"
    _, flow = a.one("AWS::EC2::FlowLog")
    assert _props(flow)["LogDestinationType"] == "s3" and _props(flow)["TrafficType"] == "ALL"
    assert _props(flow)["ResourceId"] == _ref(a.one("AWS::EC2::VPC")[0])


def _readers(a: Assembly, resource: str) -> set[str]:
    """Roles whose policies name this resource (its ARN or a key under it)."""
    found = set()
    for res in a.resources("AWS::IAM::Policy").values():
        text = json.dumps(_props(res)["PolicyDocument"])
        if resource in text:
            found.update(role["Ref"] for role in _props(res)["Roles"])
    return found


def test_each_role_reaches_only_the_secrets_and_buckets_its_tier_uses(a: Assembly) -> None:
    web = a.logical_id(a.stack.node.find_child("Web").role)
    app = a.logical_id(a.stack.node.find_child("App").instance_role)
    job = a.logical_id(a.stack.node.find_child("Analytics").job_role)
    quicksight = a.logical_id(a.stack.node.find_child("Dashboards").role)
    storage = a.stack.node.find_child("Storage")
    db_secret = json.dumps(a.stack.resolve(a.stack.node.find_child("Database").secret.secret_arn))
    assert _readers(a, db_secret) == {app, job}
    assert _readers(a, a.logical_id(a.stack.node.find_child("Cache").token)) == {app}
    assert _readers(a, a.logical_id(a.stack.node.find_child("SessionKey"))) == {web}
    assert _readers(a, a.logical_id(storage.images)) == {app}
    assert _readers(a, a.logical_id(storage.backups)) == {app}
    assert _readers(a, a.logical_id(storage.lake)) == {app, job, quicksight}
    assert not _readers(a, a.logical_id(storage.logs))


def test_the_stack_outputs_what_lakefront_aws_run_needs(a: Assembly) -> None:
    outputs = a.template["Outputs"]
    for name in ("Url", "EmrApplicationId", "EmrJobRoleArn", "EmrEntryPoint", "PipelineStateMachine"):
        assert name in outputs
    assert outputs["Url"]["Value"] == f"https://{DOMAIN}/"


@pytest.fixture
def a(assembly: Assembly) -> Assembly:  # noqa: F811
    return assembly
