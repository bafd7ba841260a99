"""The stack: one construct per tier, wired together, with the grants and the environment each tier gets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Aws, CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3_assets as assets
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from constructs import Construct

from lakefront.deploy.aws.analytics import Analytics
from lakefront.deploy.aws.app_tier import AppTier
from lakefront.deploy.aws.bundle import RDS_CA_PATH
from lakefront.deploy.aws.cache import Cache
from lakefront.deploy.aws.dashboards import Dashboards
from lakefront.deploy.aws.database import Database
from lakefront.deploy.aws.edge import Edge
from lakefront.deploy.aws.nag import acknowledge
from lakefront.deploy.aws.network import Network
from lakefront.deploy.aws.storage import ARTIFACTS_PREFIX, Storage
from lakefront.deploy.aws.web import WebTier
from lakefront.settings import Settings, SettingsError

ENTRY_POINT = Path(__file__).with_name("emr_main.py")
GLUE_READ = ("glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables")
"""What pyiceberg's Glue catalog reads: the namespace, a table's metadata location, the tables of the namespace."""


class LakefrontStack(Stack):
    def __init__(self, scope: Construct, cid: str, *, settings: Settings, bundle_dir: Path, **kwargs: Any) -> None:
        super().__init__(scope, cid, **kwargs)
        aws = settings.aws
        if not aws.domain:
            raise SettingsError("`lakefront aws` needs aws.domain (LAKEFRONT_AWS__DOMAIN), the shop's public name")
        key = kms.Key(self, "DataKey", enable_key_rotation=True,
                      description="Lakefront: RDS, ElastiCache, secrets, log groups, schedules")
        # CloudWatch Logs encrypts the log groups with this key only if its key policy lets the service.
        key.add_to_resource_policy(iam.PolicyStatement(
            principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
            actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            resources=["*"],
            conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn":
                                    f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:*"}}))
        storage = Storage(self, "Storage")
        net = Network(self, "Network", logs_bucket=storage.logs, nat_gateways=aws.nat_gateways,
                      db_port=aws.db_port, cache_port=aws.cache_port)
        database = Database(self, "Database", vpc=net.vpc, security_group=net.database, key=key,
                            instance_type=aws.db_instance_type, storage_gb=aws.db_storage_gb, port=aws.db_port,
                            backup_days=aws.db_backup_days, database_name=settings.db.name)
        cache = Cache(self, "Cache", vpc=net.vpc, security_group=net.cache, key=key, node_type=aws.cache_node_type,
                      port=aws.cache_port)
        session = secretsmanager.Secret(
            self, "SessionKey", description="Lakefront: signs web sessions and CSRF tokens (JSON key key)",
            encryption_key=key, generate_secret_string=secretsmanager.SecretStringGenerator(
                # An empty JSON template that Secrets Manager fills with a generated key: no secret here.
                secret_string_template="{}", generate_string_key="key", exclude_punctuation=True,  # nosec B106
                password_length=64))
        bundle = assets.Asset(self, "Bundle", path=str(bundle_dir))
        db_secret = database.secret
        assert db_secret is not None  # from_generated_secret always makes one

        # What every process of the aws profile reads (settings.py: the aws section and the profile's defaults).
        common = {
            "LAKEFRONT_PROFILE": "aws",
            "LAKEFRONT_LOG_LEVEL": settings.log_level,
            "LAKEFRONT_AWS__REGION": Aws.REGION,
        }
        objects = {
            "LAKEFRONT_OBJECTS__BACKEND": "s3",
            "LAKEFRONT_OBJECTS__REGION": Aws.REGION,
            "LAKEFRONT_OBJECTS__IMAGES_BUCKET": storage.images.bucket_name,
            "LAKEFRONT_OBJECTS__LAKE_BUCKET": storage.lake.bucket_name,
            "LAKEFRONT_OBJECTS__BACKUPS_BUCKET": storage.backups.bucket_name,
        }
        database_env = {
            "LAKEFRONT_DB__NAME": settings.db.name,
            "LAKEFRONT_AWS__DB_SECRET": db_secret.secret_arn,
            "LAKEFRONT_AWS__DB_PORT": str(aws.db_port),
            "LAKEFRONT_AWS__DB_READER_HOST": database.replica.db_instance_endpoint_address,
        }
        self.app_env = common | objects | database_env | {
            "LAKEFRONT_AWS__DB_CA_FILE": RDS_CA_PATH,
            "LAKEFRONT_CACHE__REDIS_URL": cache.url,
            "LAKEFRONT_AWS__CACHE_SECRET": cache.token.secret_arn,
        }
        app = AppTier(self, "App", vpc=net.vpc, instance_sg=net.app, alb_sg=net.app_alb, logs_bucket=storage.logs,
                      bundle=bundle, env=self.app_env, solution_stack=aws.beanstalk_solution_stack,
                      instance_type=aws.app_instance_type, min_instances=settings.app.instances,
                      max_instances=max(aws.app_max_instances, settings.app.instances))
        self.web_env = common | {
            "LAKEFRONT_AWS__APP_URL": app.url,
            "LAKEFRONT_AWS__SESSION_SECRET": session.secret_arn,
            "LAKEFRONT_VAR_DIR": "/var/lib/lakefront/var",
        }
        edge = Edge(self, "Edge", vpc=net.vpc, security_group=net.public_alb, logs_bucket=storage.logs,
                    domain=aws.domain, zone_name=aws.zone_name or aws.domain, hosted_zone_id=aws.hosted_zone_id)
        alarms = sns.Topic(self, "Notifications", master_key=key, display_name="Lakefront scaling events")
        web = WebTier(self, "Web", vpc=net.vpc, security_group=net.web, listener=edge.listener, bundle=bundle,
                      env=self.web_env, instance_type=aws.web_instance_type, min_capacity=aws.web_min_instances,
                      max_capacity=max(aws.web_max_instances, settings.web.instances),
                      desired_capacity=max(settings.web.instances, aws.web_min_instances),
                      requests_per_target=aws.web_requests_per_target, notifications=alarms)

        entry_point = assets.Asset(self, "JobEntryPoint", path=str(ENTRY_POINT))
        venv_uri = aws.emr_venv or f"s3://{storage.lake.bucket_name}/{ARTIFACTS_PREFIX}emr/lakefront-venv.tar.gz"
        self.job_env = common | objects | database_env | {
            # The packed virtualenv carries RDS's CA bundle (docs/emr.md); the SQLAlchemy reader speaks TLS.
            "LAKEFRONT_AWS__DB_CA_FILE": "./environment/rds-ca.pem",
            "LAKEFRONT_EXTRACT__READER": "sqlalchemy",
            "LAKEFRONT_LAKE__NAMESPACE": settings.lake.namespace,
            # An EMR Serverless worker's scratch space: private to the job's container, gone when it ends.
            "LAKEFRONT_VAR_DIR": "/tmp/lakefront",  # nosec B108
        }
        analytics = Analytics(self, "Analytics", vpc=net.vpc, security_group=net.jobs, key=key,
                              entry_point=entry_point, venv_uri=venv_uri, env=self.job_env,
                              release=aws.emr_release, schedule=aws.pipeline_schedule)
        namespace = settings.lake.namespace
        dashboards = Dashboards(self, "Dashboards", lake=storage.lake, lake_prefix=settings.lake.prefix,
                                database_name=namespace, principal=aws.quicksight_principal)

        # Grants: each role gets what its tier does, nothing more.
        for role in (app.instance_role, analytics.job_role):
            db_secret.grant_read(role)
        cache.token.grant_read(app.instance_role)
        session.grant_read(web.role)
        storage.images.grant_read_write(app.instance_role)
        storage.backups.grant_read_write(app.instance_role)
        storage.lake.grant_read(app.instance_role, f"{settings.lake.prefix}/*")  # dashboards read the marts
        storage.lake.grant_read_write(analytics.job_role, f"{settings.lake.prefix}/*")
        storage.lake.grant_read(analytics.job_role, f"{ARTIFACTS_PREFIX}*")
        # Glue is the lake's Iceberg catalog: the jobs create and commit the tables (a commit is an UpdateTable
        # conditioned on the table's version); the app tier only reads which snapshot is current.
        glue_resources = [self.format_arn(service="glue", resource="catalog"),
                          self.format_arn(service="glue", resource="database", resource_name=namespace),
                          self.format_arn(service="glue", resource="table", resource_name=f"{namespace}/*")]
        analytics.job_role.add_to_policy(iam.PolicyStatement(
            actions=[*GLUE_READ, "glue:CreateTable", "glue:UpdateTable", "glue:DeleteTable"],
            resources=glue_resources))
        app.instance_role.add_to_policy(iam.PolicyStatement(actions=list(GLUE_READ), resources=glue_resources))

        outputs = {
            "Url": f"https://{aws.domain}/",
            "AppUrl": app.url,
            "EmrApplicationId": analytics.application.attr_application_id,
            "EmrJobRoleArn": analytics.job_role.role_arn,
            "EmrEntryPoint": analytics.entry_point_uri,
            "EmrVenv": venv_uri,
            "PipelineStateMachine": analytics.state_machine.state_machine_arn,
            "LakeBucket": storage.lake.bucket_name,
            "ImagesBucket": storage.images.bucket_name,
            "DatabaseSecret": db_secret.secret_arn,
        }
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)
        acknowledge(self, web=web, app=app, database=database, cache=cache, storage=storage, analytics=analytics,
                    dashboards=dashboards, public_alb_sg=net.public_alb)
