"""Processing (the EMR role): an EMR Serverless application, the jobs' role, and the schedule that runs
the pipeline (extract, then process) through Step Functions."""

from __future__ import annotations

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_emrserverless as emr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as assets
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from lakefront.deploy.aws.jobs import STEPS, job_driver, pascal, spark_defaults


class Analytics(Construct):
    """Jobs run in the private subnets (the extract reads the read replica); the application starts on demand
    and stops 15 idle minutes after the last job, so it costs nothing between runs."""

    def __init__(self, scope: Construct, cid: str, *, vpc: ec2.IVpc, security_group: ec2.ISecurityGroup,
                 key: kms.IKey, entry_point: assets.Asset, venv_uri: str, env: dict[str, str], release: str,
                 schedule: str) -> None:
        super().__init__(scope, cid)
        self.job_role = iam.Role(self, "JobRole", assumed_by=iam.ServicePrincipal("emr-serverless.amazonaws.com"),
                                 description="Lakefront pipeline jobs: the lake, the replica's secret, the catalog")
        entry_point.grant_read(self.job_role)
        self.application = emr.CfnApplication(
            self, "Application", name="lakefront", release_label=release, type="Spark",
            auto_start_configuration=emr.CfnApplication.AutoStartConfigurationProperty(enabled=True),
            auto_stop_configuration=emr.CfnApplication.AutoStopConfigurationProperty(
                enabled=True, idle_timeout_minutes=15),
            maximum_capacity=emr.CfnApplication.MaximumAllowedResourcesProperty(cpu="16 vCPU", memory="64 GB"),
            network_configuration=emr.CfnApplication.NetworkConfigurationProperty(
                subnet_ids=vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS).subnet_ids,
                security_group_ids=[security_group.security_group_id]),
            runtime_configuration=[emr.CfnApplication.ConfigurationObjectProperty(
                classification="spark-defaults", properties=spark_defaults(venv_uri, env))],
        )
        self.entry_point_uri = entry_point.s3_object_url
        application_arn = Stack.of(self).format_arn(service="emr-serverless", resource="/applications",
                                                    resource_name=self.application.attr_application_id)
        self.application_arn = application_arn

        chain: sfn.IChainable | None = None
        for step in STEPS:
            state = sfn.CustomState(self, f"Run{step.title()}", state_json={
                "Type": "Task",
                # .sync: the state machine waits for the job run to end, so process never starts on a failed extract.
                "Resource": "arn:aws:states:::emr-serverless:startJobRun.sync",
                "Parameters": {
                    "ApplicationId": self.application.attr_application_id,
                    "ExecutionRoleArn": self.job_role.role_arn,
                    "Name": f"lakefront-{step}",
                    "JobDriver": pascal(job_driver(self.entry_point_uri, step)),
                },
                "Retry": [{"ErrorEquals": ["EMRServerless.ServiceQuotaExceededException", "States.Timeout"],
                           "IntervalSeconds": 60, "MaxAttempts": 2, "BackoffRate": 2}],
            })
            chain = state if chain is None else chain.next(state)  # type: ignore[attr-defined]
        assert chain is not None
        machine_log = logs.LogGroup(self, "PipelineLog", encryption_key=key, retention=logs.RetentionDays.ONE_YEAR)
        self.state_machine = sfn.StateMachine(
            self, "Pipeline", definition_body=sfn.DefinitionBody.from_chainable(chain), timeout=Duration.hours(6),
            tracing_enabled=True, comment="Lakefront pipeline: extract the read replica into the lake, then process",
            logs=sfn.LogOptions(destination=machine_log, level=sfn.LogLevel.ALL, include_execution_data=False))
        self.state_machine.add_to_role_policy(iam.PolicyStatement(
            actions=["emr-serverless:StartJobRun"], resources=[application_arn]))
        self.state_machine.add_to_role_policy(iam.PolicyStatement(
            actions=["emr-serverless:GetJobRun", "emr-serverless:CancelJobRun"],
            resources=[f"{application_arn}/jobruns/*"]))
        # How Step Functions learns that a .sync job ended: a managed EventBridge rule of its own.
        self.state_machine.add_to_role_policy(iam.PolicyStatement(
            actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            resources=[f"arn:{Aws.PARTITION}:events:{Aws.REGION}:{Aws.ACCOUNT_ID}:rule/"
                       "StepFunctionsGetEventsForEMRServerlessJobRule"]))
        self.job_role.grant_pass_role(self.state_machine.role)

        schedule_role = iam.Role(self, "ScheduleRole", assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"),
                                 description="EventBridge Scheduler: start the Lakefront pipeline")
        self.state_machine.grant_start_execution(schedule_role)
        self.schedule = scheduler.CfnSchedule(
            self, "Schedule", schedule_expression=schedule, state="ENABLED",
            description="Run the Lakefront pipeline (extract, then process)",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            kms_key_arn=key.key_arn,
            target=scheduler.CfnSchedule.TargetProperty(
                arn=self.state_machine.state_machine_arn, role_arn=schedule_role.role_arn,
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(maximum_retry_attempts=0)))
