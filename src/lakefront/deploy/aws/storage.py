"""The S3 buckets: images, lake and backups hold data that must survive; logs holds what AWS writes.

Every bucket blocks public access, requires TLS, is encrypted and logs its own access to the logs bucket.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

RAW_PREFIX = "lake/raw/"
"""Where the lake's raw tables live (settings lake.prefix = lake): raw/<table>/data/ and metadata/, Iceberg."""
ATHENA_RESULTS_PREFIX = "athena-results/"
"""Athena's query results in the lake bucket: recomputable, so they expire."""
ARTIFACTS_PREFIX = "artifacts/"
"""The EMR jobs' packed virtualenv (docs/emr.md) in the lake bucket."""


class Storage(Construct):
    def __init__(self, scope: Construct, cid: str) -> None:
        super().__init__(scope, cid)
        self.logs = s3.Bucket(
            self, "Logs",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            # ALB access logs can only be written to SSE-S3 buckets, not SSE-KMS.
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            lifecycle_rules=[s3.LifecycleRule(id="expire-logs", expiration=Duration.days(365),
                                              noncurrent_version_expiration=Duration.days(7),
                                              abort_incomplete_multipart_upload_after=Duration.days(1))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.images = self._data_bucket("Images", "images/", [])
        self.lake = self._data_bucket("Lake", "lake/", [
            # Raw tables' files stay readable (live snapshots name them) but are rarely read after the next full
            # snapshot: Intelligent-Tiering moves cold ones to cheaper tiers without retrieval fees.
            s3.LifecycleRule(id="raw-extracts-tiering", prefix=RAW_PREFIX,
                             transitions=[s3.Transition(storage_class=s3.StorageClass.INTELLIGENT_TIERING,
                                                        transition_after=Duration.days(30))]),
            s3.LifecycleRule(id="athena-results-expire", prefix=ATHENA_RESULTS_PREFIX,
                             expiration=Duration.days(30)),
        ])
        self.backups = self._data_bucket("Backups", "backups/", [
            s3.LifecycleRule(id="backups-to-glacier",
                             transitions=[s3.Transition(storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
                                                        transition_after=Duration.days(30))]),
        ])

    def _data_bucket(self, cid: str, log_prefix: str, rules: list[s3.LifecycleRule]) -> s3.Bucket:
        """Versioned (an overwrite or delete can be undone), retained when the stack is deleted."""
        return s3.Bucket(
            self, cid,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            server_access_logs_bucket=self.logs,
            server_access_logs_prefix=f"s3-access/{log_prefix}",
            lifecycle_rules=[
                *rules,
                s3.LifecycleRule(id="old-versions", noncurrent_version_expiration=Duration.days(90),
                                 abort_incomplete_multipart_upload_after=Duration.days(7)),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
