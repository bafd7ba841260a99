"""The VPC and the security groups: every tier reaches only the tier below it, on its one port."""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_s3 as s3
from constructs import Construct

WEB_PORT = 8000
"""Port the web instances' uvicorn listens on (behind the public ALB)."""
APP_ALB_PORT = 80
"""Port of the internal ALB's listener and of Beanstalk's nginx on the app instances."""


class Network(Construct):
    """Public subnets (ALB, NAT), private subnets with egress (web, app, EMR jobs), isolated subnets (RDS,
    ElastiCache), flow logs to the logs bucket, an S3 gateway endpoint so lake traffic skips the NAT."""

    def __init__(self, scope: Construct, cid: str, *, logs_bucket: s3.IBucket, nat_gateways: int,
                 db_port: int, cache_port: int) -> None:
        super().__init__(scope, cid)
        self.vpc = ec2.Vpc(
            self, "Vpc", max_azs=2, nat_gateways=nat_gateways,
            ip_addresses=ec2.IpAddresses.cidr("10.40.0.0/16"),
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24,
                                        map_public_ip_on_launch=False),
                ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS,
                                        cidr_mask=22),
                ec2.SubnetConfiguration(name="data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24),
            ],
            gateway_endpoints={"S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)},
        )
        self.vpc.add_flow_log("FlowLogs", destination=ec2.FlowLogDestination.to_s3(logs_bucket, "vpc-flow-logs/"),
                              traffic_type=ec2.FlowLogTrafficType.ALL)

        def group(name: str, description: str, *, outbound: bool) -> ec2.SecurityGroup:
            return ec2.SecurityGroup(self, name, vpc=self.vpc, description=description,
                                     allow_all_outbound=outbound)

        # Instances keep outbound access: they install the package from PyPI at boot and call AWS APIs.
        self.public_alb = group("PublicAlbSg", "Public ALB: HTTPS and the HTTP redirect from anywhere", outbound=False)
        self.web = group("WebSg", "Web instances: from the public ALB only", outbound=True)
        self.app_alb = group("AppAlbSg", "Internal ALB: from the web instances only", outbound=False)
        self.app = group("AppSg", "App instances: from the internal ALB only", outbound=True)
        self.jobs = group("JobsSg", "EMR Serverless jobs (extract, process)", outbound=True)
        self.database = group("DatabaseSg", "RDS MySQL: from the app instances and the extract job", outbound=False)
        self.cache = group("CacheSg", "ElastiCache Redis: from the app instances only", outbound=False)

        self.public_alb.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS from the Internet")
        self.public_alb.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(80), "HTTP, redirected to HTTPS")
        self._allow(self.public_alb, self.web, WEB_PORT, "public ALB to web instances")
        self._allow(self.web, self.app_alb, APP_ALB_PORT, "web instances to the internal ALB")
        self._allow(self.app_alb, self.app, APP_ALB_PORT, "internal ALB to app instances")
        self._allow(self.app, self.database, db_port, "app instances to MySQL")
        self._allow(self.jobs, self.database, db_port, "extract job to MySQL (the read replica)")
        self._allow(self.app, self.cache, cache_port, "app instances to Redis")

    @staticmethod
    def _allow(source: ec2.SecurityGroup, target: ec2.SecurityGroup, port: int, why: str) -> None:
        """One rule on each side: the target admits the source, and the source (no open egress) may send."""
        target.add_ingress_rule(source, ec2.Port.tcp(port), why)
        if not source.allow_all_outbound:
            source.add_egress_rule(target, ec2.Port.tcp(port), why)
