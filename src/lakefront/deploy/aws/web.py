"""The web tier: a launch template and an Auto Scaling group behind the public ALB's HTTPS listener."""

from __future__ import annotations

import shlex

from aws_cdk import Duration
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as assets
from aws_cdk import aws_sns as sns
from constructs import Construct

from lakefront.deploy.aws.network import WEB_PORT

SERVICE_UNIT = f"""\
[Unit]
Description=Lakefront web instance
After=network-online.target

[Service]
User=lakefront
EnvironmentFile=/etc/lakefront/web.env
WorkingDirectory=/var/lib/lakefront
ExecStart=/opt/lakefront/venv/bin/lakefront serve web --host 0.0.0.0 --port {WEB_PORT} --name web-%H
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
"""


def user_data_commands(env: dict[str, str]) -> list[str]:
    """Boot script after the bundle is downloaded to /opt/lakefront/bundle.zip: install, configure, start."""
    env_lines = "\n".join(f"{key}={value}" for key, value in sorted(env.items()))
    return [
        "set -euo pipefail",
        "dnf install -y python3.11 unzip",
        "useradd --system --home-dir /var/lib/lakefront --create-home lakefront || true",
        "rm -rf /opt/lakefront/src && unzip -q /opt/lakefront/bundle.zip -d /opt/lakefront/src",
        "python3.11 -m venv /opt/lakefront/venv",
        "/opt/lakefront/venv/bin/pip install --quiet -c /opt/lakefront/src/constraints.txt /opt/lakefront/src",
        "mkdir -p /etc/lakefront",
        f"printf '%s\\n' {shlex.quote(env_lines)} > /etc/lakefront/web.env",
        "chmod 0640 /etc/lakefront/web.env && chgrp lakefront /etc/lakefront/web.env",
        f"printf '%s' {shlex.quote(SERVICE_UNIT)} > /etc/systemd/system/lakefront-web.service",
        "systemctl daemon-reload && systemctl enable --now lakefront-web",
    ]


class WebTier(Construct):
    """Instances in the private subnets; the ALB health-checks /healthz and the group tracks requests per target."""

    def __init__(self, scope: Construct, cid: str, *, vpc: ec2.IVpc, security_group: ec2.ISecurityGroup,
                 listener: elbv2.ApplicationListener, bundle: assets.Asset, env: dict[str, str],
                 instance_type: str, min_capacity: int, max_capacity: int, desired_capacity: int,
                 requests_per_target: int, notifications: sns.ITopic) -> None:
        super().__init__(scope, cid)
        self.role = iam.Role(self, "InstanceRole", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
                             description="Lakefront web instances: read the release bundle and the session secret")
        user_data = ec2.UserData.for_linux()
        user_data.add_s3_download_command(bucket=bundle.bucket, bucket_key=bundle.s3_object_key,
                                          local_file="/opt/lakefront/bundle.zip")
        user_data.add_commands(*user_data_commands(env))
        bundle.grant_read(self.role)
        self.launch_template = ec2.LaunchTemplate(
            self, "LaunchTemplate",
            instance_type=ec2.InstanceType(instance_type),
            machine_image=ec2.MachineImage.latest_amazon_linux2023(),
            role=self.role,
            security_group=security_group,
            user_data=user_data,
            require_imdsv2=True,
            detailed_monitoring=True,
            block_devices=[ec2.BlockDevice(device_name="/dev/xvda", volume=ec2.BlockDeviceVolume.ebs(
                20, encrypted=True, volume_type=ec2.EbsDeviceVolumeType.GP3, delete_on_termination=True))],
        )
        self.group = autoscaling.AutoScalingGroup(
            self, "Group", vpc=vpc, launch_template=self.launch_template,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            min_capacity=min_capacity, max_capacity=max_capacity, desired_capacity=desired_capacity,
            health_checks=autoscaling.HealthChecks.with_additional_checks(
                additional_types=[autoscaling.AdditionalHealthCheckType.ELB], grace_period=Duration.minutes(5)),
            notifications=[autoscaling.NotificationConfiguration(topic=notifications)],
            update_policy=autoscaling.UpdatePolicy.rolling_update(min_instances_in_service=min_capacity),
        )
        self.target_group = listener.add_targets(
            "Web", port=WEB_PORT, protocol=elbv2.ApplicationProtocol.HTTP, targets=[self.group],
            deregistration_delay=Duration.seconds(30),
            health_check=elbv2.HealthCheck(path="/healthz", healthy_http_codes="200", interval=Duration.seconds(15),
                                           healthy_threshold_count=2, unhealthy_threshold_count=3),
        )
        self.group.scale_on_request_count("RequestsPerTarget", target_requests_per_minute=requests_per_target)
