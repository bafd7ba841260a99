"""The app tier: an Elastic Beanstalk application and environment (Python platform) behind an internal ALB."""

from __future__ import annotations

from aws_cdk import Fn
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticbeanstalk as eb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as assets
from constructs import Construct

from lakefront.deploy.aws.edge import ALB_LOG_PREFIX
from lakefront.deploy.aws.network import APP_ALB_PORT

ENV_NAMESPACE = "aws:elasticbeanstalk:application:environment"


class AppTier(Construct):
    """Beanstalk runs the bundle's Procfile (`lakefront serve app`) on instances in the private subnets, with
    its own internal ALB (our security group, so only the web tier reaches it) checking /healthz; deployments
    roll a batch at a time and health reporting is enhanced."""

    def __init__(self, scope: Construct, cid: str, *, vpc: ec2.IVpc, instance_sg: ec2.ISecurityGroup,
                 alb_sg: ec2.ISecurityGroup, logs_bucket: s3.IBucket, bundle: assets.Asset, env: dict[str, str],
                 solution_stack: str, instance_type: str, min_instances: int, max_instances: int) -> None:
        super().__init__(scope, cid)
        self.instance_role = iam.Role(
            self, "InstanceRole", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="Lakefront app instances: images, lake, secrets; Beanstalk's own agent duties",
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("AWSElasticBeanstalkWebTier")])
        profile = iam.CfnInstanceProfile(self, "InstanceProfile", roles=[self.instance_role.role_name])
        self.service_role = iam.Role(
            self, "ServiceRole", assumed_by=iam.ServicePrincipal("elasticbeanstalk.amazonaws.com"),
            description="Elastic Beanstalk service role: enhanced health and managed platform updates",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AWSElasticBeanstalkEnhancedHealth"),
                iam.ManagedPolicy.from_aws_managed_policy_name("AWSElasticBeanstalkManagedUpdatesCustomerRolePolicy"),
            ])
        bundle.grant_read(self.instance_role)

        self.application = eb.CfnApplication(self, "Application", description="Lakefront app tier (FastAPI)")
        version = eb.CfnApplicationVersion(
            self, "Version", application_name=Fn.ref(self.application.logical_id),
            source_bundle=eb.CfnApplicationVersion.SourceBundleProperty(
                s3_bucket=bundle.s3_bucket_name, s3_key=bundle.s3_object_key),
            description="This checkout's bundle: src, pins, Procfile (lakefront serve app)")

        private = Fn.join(",", vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS).subnet_ids)
        options: list[tuple[str, str, str]] = [
            ("aws:ec2:vpc", "VPCId", vpc.vpc_id),
            ("aws:ec2:vpc", "Subnets", private),
            ("aws:ec2:vpc", "ELBSubnets", private),
            ("aws:ec2:vpc", "ELBScheme", "internal"),
            ("aws:ec2:vpc", "AssociatePublicIpAddress", "false"),
            ("aws:elasticbeanstalk:environment", "EnvironmentType", "LoadBalanced"),
            ("aws:elasticbeanstalk:environment", "LoadBalancerType", "application"),
            ("aws:elasticbeanstalk:environment", "ServiceRole", self.service_role.role_arn),
            ("aws:elbv2:loadbalancer", "SecurityGroups", alb_sg.security_group_id),
            ("aws:elbv2:loadbalancer", "ManagedSecurityGroup", alb_sg.security_group_id),
            ("aws:elbv2:loadbalancer", "AccessLogsS3Enabled", "true"),
            ("aws:elbv2:loadbalancer", "AccessLogsS3Bucket", logs_bucket.bucket_name),
            ("aws:elbv2:loadbalancer", "AccessLogsS3Prefix", ALB_LOG_PREFIX),
            ("aws:elbv2:listener:default", "ListenerEnabled", "true"),
            ("aws:elasticbeanstalk:environment:process:default", "Port", str(APP_ALB_PORT)),
            ("aws:elasticbeanstalk:environment:process:default", "HealthCheckPath", "/healthz"),
            ("aws:elasticbeanstalk:environment:process:default", "MatcherHTTPCode", "200"),
            ("aws:autoscaling:launchconfiguration", "IamInstanceProfile", profile.ref),
            ("aws:autoscaling:launchconfiguration", "SecurityGroups", instance_sg.security_group_id),
            ("aws:autoscaling:launchconfiguration", "InstanceType", instance_type),
            # IMDSv2 only; it also makes Beanstalk use a launch template (launch configurations are retired).
            ("aws:autoscaling:launchconfiguration", "DisableIMDSv1", "true"),
            ("aws:autoscaling:launchconfiguration", "RootVolumeType", "gp3"),
            ("aws:autoscaling:launchconfiguration", "MonitoringInterval", "1 minute"),
            ("aws:autoscaling:asg", "MinSize", str(min_instances)),
            ("aws:autoscaling:asg", "MaxSize", str(max_instances)),
            ("aws:elasticbeanstalk:command", "DeploymentPolicy", "Rolling"),
            ("aws:elasticbeanstalk:command", "BatchSizeType", "Fixed"),
            ("aws:elasticbeanstalk:command", "BatchSize", "1"),
            ("aws:autoscaling:updatepolicy:rollingupdate", "RollingUpdateEnabled", "true"),
            ("aws:autoscaling:updatepolicy:rollingupdate", "RollingUpdateType", "Health"),
            ("aws:elasticbeanstalk:healthreporting:system", "SystemType", "enhanced"),
            ("aws:elasticbeanstalk:managedactions", "ManagedActionsEnabled", "true"),
            ("aws:elasticbeanstalk:managedactions", "PreferredStartTime", "Sun:03:00"),
            ("aws:elasticbeanstalk:managedactions:platformupdate", "UpdateLevel", "minor"),
            ("aws:elasticbeanstalk:cloudwatch:logs", "StreamLogs", "true"),
            ("aws:elasticbeanstalk:hostmanager", "LogPublicationControl", "true"),
            ("aws:elasticbeanstalk:cloudwatch:logs", "RetentionInDays", "365"),
            ("aws:elasticbeanstalk:cloudwatch:logs:health", "HealthStreamingEnabled", "true"),
            *((ENV_NAMESPACE, key, value) for key, value in sorted(env.items())),
        ]
        self.environment = eb.CfnEnvironment(
            self, "Environment", application_name=Fn.ref(self.application.logical_id),
            solution_stack_name=solution_stack, version_label=version.ref, tier=eb.CfnEnvironment.TierProperty(
                name="WebServer", type="Standard"),
            option_settings=[eb.CfnEnvironment.OptionSettingProperty(namespace=ns, option_name=name, value=value)
                             for ns, name, value in options])

    @property
    def url(self) -> str:
        """Base URL of the internal ALB the web tier calls (Beanstalk's endpoint is the ALB's DNS name)."""
        return Fn.join("", ["http://", self.environment.attr_endpoint_url])
