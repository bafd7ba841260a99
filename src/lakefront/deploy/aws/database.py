"""RDS MySQL: a Multi-AZ primary (its synchronous standby is the failover target) and a read replica."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from constructs import Construct

ENGINE = rds.DatabaseInstanceEngine.mysql(version=rds.MysqlEngineVersion.VER_8_4_9)
"""Pinned to a patch version: a family alone ("8.4") is rejected by CloudFormation's schema (cfn-lint E3691)."""
LOG_EXPORTS = ["error", "slowquery", "general"]


class Database(Construct):
    """Encrypted with the stack's key, TLS required, backups and deletion protection on, the master password
    generated into Secrets Manager. The replica is the reader endpoint the app's catalog
    reads and the extract use, as the MariaDB standby is locally."""

    def __init__(self, scope: Construct, cid: str, *, vpc: ec2.IVpc, security_group: ec2.ISecurityGroup,
                 key: kms.IKey, instance_type: str, storage_gb: int, port: int, backup_days: int,
                 database_name: str) -> None:
        super().__init__(scope, cid)
        parameters = rds.ParameterGroup(self, "Parameters", engine=ENGINE, parameters={
            "require_secure_transport": "1",
            # Same transaction isolation and time zone as the MariaDB the services profile tests against.
            "transaction_isolation": "REPEATABLE-READ",
            "time_zone": "UTC",
            "slow_query_log": "1",
            "long_query_time": "1",
        })
        subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        common: dict[str, Any] = {
            "instance_type": ec2.InstanceType(instance_type.removeprefix("db.")),
            "vpc": vpc, "vpc_subnets": subnets, "security_groups": [security_group], "port": port,
            "multi_az": True,
            "deletion_protection": True, "removal_policy": RemovalPolicy.SNAPSHOT,
            "backup_retention": Duration.days(backup_days), "auto_minor_version_upgrade": True,
            "cloudwatch_logs_exports": LOG_EXPORTS, "enable_performance_insights": True,
            "performance_insight_encryption_key": key, "monitoring_interval": Duration.seconds(60),
            "iam_authentication": True, "parameter_group": parameters, "copy_tags_to_snapshot": True,
            "publicly_accessible": False,
        }
        self.primary = rds.DatabaseInstance(
            self, "Primary", engine=ENGINE, database_name=database_name,
            credentials=rds.Credentials.from_generated_secret("lakefront", encryption_key=key),
            allocated_storage=storage_gb, max_allocated_storage=storage_gb * 4,
            storage_type=rds.StorageType.GP3, storage_encrypted=True, storage_encryption_key=key, **common)
        self.secret = self.primary.secret
        # The replica is encrypted with the source's key; CloudFormation rejects StorageEncrypted on it.
        self.replica = rds.DatabaseInstanceReadReplica(
            self, "Replica", source_database_instance=self.primary, **common)
