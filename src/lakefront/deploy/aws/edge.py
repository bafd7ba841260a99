"""Route 53, ACM and the public ALB: HTTPS only (TLS 1.3), HTTP redirected, access logs to S3."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as targets
from aws_cdk import aws_s3 as s3
from constructs import Construct

ALB_LOG_PREFIX = "alb"
"""Access logs of the public and the internal ALB (their file names carry each ALB's name)."""


class Edge(Construct):
    """The shop's public name: a hosted zone (new, or existing by id), a DNS-validated certificate, and an
    alias A record to the internet-facing ALB whose HTTPS listener the web tier attaches to."""

    def __init__(self, scope: Construct, cid: str, *, vpc: ec2.IVpc, security_group: ec2.ISecurityGroup,
                 logs_bucket: s3.IBucket, domain: str, zone_name: str, hosted_zone_id: str | None) -> None:
        super().__init__(scope, cid)
        if hosted_zone_id:
            self.zone: route53.IHostedZone = route53.HostedZone.from_hosted_zone_attributes(
                self, "Zone", hosted_zone_id=hosted_zone_id, zone_name=zone_name)
        else:
            self.zone = route53.PublicHostedZone(self, "Zone", zone_name=zone_name,
                                                 comment="Lakefront: the shop's public name")
        self.certificate = acm.Certificate(self, "Certificate", domain_name=domain,
                                           validation=acm.CertificateValidation.from_dns(self.zone))
        self.alb = elbv2.ApplicationLoadBalancer(
            self, "Alb", vpc=vpc, internet_facing=True, security_group=security_group,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            drop_invalid_header_fields=True, idle_timeout=Duration.seconds(60),
        )
        # One prefix for both ALBs: the bucket policy CDK writes for ELB's log delivery admits this prefix only.
        self.alb.log_access_logs(logs_bucket, ALB_LOG_PREFIX)
        self.listener = self.alb.add_listener(
            "Https", port=443, protocol=elbv2.ApplicationProtocol.HTTPS, open=False,
            certificates=[elbv2.ListenerCertificate.from_certificate_manager(self.certificate)],
            ssl_policy=elbv2.SslPolicy.TLS13_13,
        )
        self.alb.add_redirect(source_port=80, target_port=443, open=False)
        route53.ARecord(self, "Alias", zone=self.zone, record_name=domain,
                        target=route53.RecordTarget.from_alias(targets.LoadBalancerTarget(self.alb)))
