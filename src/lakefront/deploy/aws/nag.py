"""cdk-nag (AwsSolutions) acknowledgements: each names the exact finding it covers and why it stays.

An acknowledgement is scoped to one construct (and what it contains), never to the stack, so a new
resource with the same problem is still reported.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, CfnResource, Validations
from constructs import IConstruct

MANAGED = "arn:<AWS::Partition>:iam::aws:policy"
S3_OBJECT_ACTIONS = ("s3:GetObject*", "s3:GetBucket*", "s3:List*")
S3_WRITE_ACTIONS = ("s3:DeleteObject*", "s3:Abort*")
GRANT_ACTIONS = "CDK's grant_read/grant_read_write action groups, on one bucket (and key prefix) only"
OBJECT_KEYS = "object keys are generated at run time (uploads, extract and mart runs): the grant is one bucket's keys"
ASSETS = ("CDK's asset grant on the bootstrap bucket, whose keys are content hashes unknown until synthesis; "
          "the release bundle and the job entry point are read from there")
ASSETS_RESOURCE = "Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-{region}/*"


def checkov_skip(scope: IConstruct, check: str, reason: str) -> None:
    """checkov's per-resource skip, in the template's Metadata, for the same kind of finding."""
    resource = scope.node.default_child if isinstance(scope.node.default_child, CfnResource) else scope
    assert isinstance(resource, CfnResource)
    current = resource.get_metadata("checkov") or {"skip": []}
    current["skip"].append({"id": check, "comment": reason})
    resource.add_metadata("checkov", current)


def _ack(scope: IConstruct, findings: list[str], reason: str) -> None:
    Validations.of(scope).acknowledge(
        *(Acknowledgment(id=f"AwsSolutions::AwsSolutions-{finding}", reason=reason) for finding in findings))


def _iam5(*items: str) -> list[str]:
    return [f"IAM5[{item}]" for item in items]


def _actions(*actions: str) -> list[str]:
    return _iam5(*(f"Action::{action}" for action in actions))


def acknowledge(stack: Any, *, web: Any, app: Any, database: Any, cache: Any, storage: Any, analytics: Any,
                dashboards: Any, public_alb_sg: IConstruct) -> None:
    region = stack.region
    assets = ASSETS_RESOURCE.format(region=region)

    def arn(bucket: Any, suffix: str) -> str:
        return f"Resource::<{stack.get_logical_id(bucket.node.default_child)}.Arn>/{suffix}"

    _ack(public_alb_sg, ["EC23"], "the public ALB is the Internet's way in: 443, and 80 only to redirect to 443")
    checkov_skip(public_alb_sg, "CKV_AWS_260", "port 80 only answers with a redirect to HTTPS (the issue asks for it)")
    checkov_skip(storage.logs, "CKV_AWS_18", "the logs bucket receives the other buckets' access logs; logging "
                 "its own access into itself would log each log delivery, forever")

    _ack(web.role, _actions(*S3_OBJECT_ACTIONS), GRANT_ACTIONS)
    _ack(web.role, _iam5(assets), ASSETS)

    _ack(app.instance_role, [f"IAM4[Policy::{MANAGED}/AWSElasticBeanstalkWebTier]"],
         "AWS maintains what Beanstalk's agents need (log and health uploads to Beanstalk's own bucket); "
         "the tier's data grants are separate and scoped")
    _ack(app.instance_role, _actions(*S3_OBJECT_ACTIONS, *S3_WRITE_ACTIONS), GRANT_ACTIONS)
    _ack(app.instance_role, _iam5(assets), ASSETS)
    _ack(app.instance_role, _iam5(arn(storage.images, "*"), arn(storage.backups, "*"), arn(storage.lake, "lake/*")),
         OBJECT_KEYS)
    _ack(app.instance_role, _iam5(f"Resource::arn:<AWS::Partition>:glue:{region}:<AWS::AccountId>:table/lakefront/*"),
         "the dashboards read which snapshot of each of the lake's tables is current; tables come with models")
    _ack(app.service_role, [
        f"IAM4[Policy::{MANAGED}/service-role/AWSElasticBeanstalkEnhancedHealth]",
        f"IAM4[Policy::{MANAGED}/AWSElasticBeanstalkManagedUpdatesCustomerRolePolicy]",
    ], "the service role Beanstalk documents for enhanced health and managed platform updates; AWS keeps it "
       "current as the service changes")

    for instance in (database.primary, database.replica):
        _ack(instance, [f"IAM4[Policy::{MANAGED}/service-role/AmazonRDSEnhancedMonitoringRole]"],
             "enhanced monitoring's role: AWS's policy lets RDS publish OS metrics to CloudWatch Logs, nothing else")
    _ack(database.replica, ["RDS11"],
         "the replica inherits port 3406 and the engine from its source; cdk-nag cannot see a replica's engine")
    _ack(database.replica, ["RDS2"],
         "a replica is encrypted with its source's key whatever its template says; CloudFormation's schema "
         "rejects StorageEncrypted next to SourceDBInstanceIdentifier (cfn-lint F3020)")
    checkov_skip(database.replica, "CKV_AWS_16", "encrypted with the source's key (StorageEncrypted is inherited; "
                 "CloudFormation documents it must not be set on a replica)")
    _ack(database.primary, ["SMG4"],
         "instances read the password once at start-up: a single-user rotation would lock running instances out "
         "until restarted. Rotate with a rolling restart (docs/aws.md)")
    _ack(cache.token, ["SMG4"],
         "ElastiCache rotates an AUTH token in two steps (ROTATE, then SET) on the replication group, which a "
         "Secrets Manager rotation cannot drive; instances read it at start-up. Rotate with docs/aws.md")
    _ack(stack.node.find_child("SessionKey"), ["SMG4"],
         "rotating the session-signing key signs every customer out; it is rotated deliberately, not on a timer")

    job = analytics.job_role
    _ack(job, _actions(*S3_OBJECT_ACTIONS, *S3_WRITE_ACTIONS), GRANT_ACTIONS)
    _ack(job, _iam5(assets), ASSETS)
    _ack(job, _iam5(arn(storage.lake, "lake/*"), arn(storage.lake, "artifacts/*")), OBJECT_KEYS)
    _ack(job, _iam5(f"Resource::arn:<AWS::Partition>:glue:{region}:<AWS::AccountId>:table/lakefront/*"),
         "the jobs create and commit every table of the lake's one Glue database (Iceberg's catalog); tables "
         "are added with models")
    machine = analytics.state_machine
    _ack(machine, _iam5("Resource::*"), "X-Ray's PutTraceSegments and PutTelemetryRecords take no resource ARN")
    _ack(machine, _iam5(f"Resource::arn:<AWS::Partition>:emr-serverless:{region}:<AWS::AccountId>:/applications/"
                        f"<{stack.get_logical_id(analytics.application)}.ApplicationId>/jobruns/*"),
         "job run ids are generated per run; the statement is one application's runs")

    quick = dashboards.role
    _ack(quick, _actions(*S3_OBJECT_ACTIONS, *S3_WRITE_ACTIONS), GRANT_ACTIONS)
    _ack(quick, _iam5(arn(storage.lake, "lake/marts/*"), arn(storage.lake, "athena-results/*")), OBJECT_KEYS)
    _ack(quick, _iam5(f"Resource::arn:<AWS::Partition>:glue:{region}:<AWS::AccountId>:table/lakefront/*"),
         "QuickSight reads every mart's table in the one Lakefront database")
