"""ElastiCache: a Redis replication group, Multi-AZ, encrypted in transit and at rest, AUTH from Secrets Manager."""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct


class Cache(Construct):
    """A primary and a replica in another AZ with automatic failover, in the isolated subnets."""

    def __init__(self, scope: Construct, cid: str, *, vpc: ec2.IVpc, security_group: ec2.ISecurityGroup,
                 key: kms.IKey, node_type: str, port: int) -> None:
        super().__init__(scope, cid)
        # ElastiCache's AUTH token allows printable ASCII except @, " and /: letters and digits are safe
        # in a redis:// URL too.
        self.token = secretsmanager.Secret(
            self, "AuthToken", description="Lakefront: the Redis AUTH token (JSON key token)", encryption_key=key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                # An empty JSON template that Secrets Manager fills with a generated token: no password here.
                secret_string_template="{}", generate_string_key="token", exclude_punctuation=True,  # nosec B106
                password_length=64))
        subnets = elasticache.CfnSubnetGroup(
            self, "Subnets", description="Lakefront cache: isolated subnets",
            subnet_ids=vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED).subnet_ids)
        slow_log = logs.LogGroup(self, "SlowLog", encryption_key=key, retention=logs.RetentionDays.ONE_YEAR)
        self.group = elasticache.CfnReplicationGroup(
            self, "ReplicationGroup",
            replication_group_description="Lakefront cache (cache-aside: copies only, no persistence needed)",
            engine="redis", engine_version="7.1", cache_node_type=node_type, port=port,
            num_cache_clusters=2, automatic_failover_enabled=True, multi_az_enabled=True,
            transit_encryption_enabled=True, at_rest_encryption_enabled=True, kms_key_id=key.key_arn,
            auth_token=self.token.secret_value_from_json("token").unsafe_unwrap(),
            cache_subnet_group_name=subnets.ref, security_group_ids=[security_group.security_group_id],
            auto_minor_version_upgrade=True, snapshot_retention_limit=1,
            log_delivery_configurations=[elasticache.CfnReplicationGroup.LogDeliveryConfigurationRequestProperty(
                destination_type="cloudwatch-logs", log_format="json", log_type="slow-log",
                destination_details=elasticache.CfnReplicationGroup.DestinationDetailsProperty(
                    cloud_watch_logs_details=elasticache.CfnReplicationGroup.CloudWatchLogsDestinationDetailsProperty(
                        log_group=slow_log.log_group_name)))],
        )

    @property
    def url(self) -> str:
        """rediss:// (TLS) to the primary endpoint; the token is added at start-up from the secret."""
        return f"rediss://{self.group.attr_primary_end_point_address}:{self.group.attr_primary_end_point_port}/0"
