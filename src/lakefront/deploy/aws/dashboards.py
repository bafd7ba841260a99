"""Dashboards (the QuickSight role): the Glue database the lake's Iceberg tables live in, an Athena workgroup, and a
QuickSight data source and datasets over the marts. What stays console-only is in docs/aws.md.

The tables themselves are not declared here: Glue is the lake's Iceberg catalog, and the pipeline creates each
table (``raw_<table>``, ``mart_<model>``, table type ICEBERG) at its first commit and moves its metadata
location at every commit after. Athena reads Iceberg tables natively, so the marts need no publishing step.
"""

from __future__ import annotations

from aws_cdk import Aws, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_quicksight as quicksight
from aws_cdk import aws_s3 as s3
from constructs import Construct

from lakefront.deploy.aws.marts import DATASETS, MARTS, QUICKSIGHT_TYPES
from lakefront.deploy.aws.storage import ATHENA_RESULTS_PREFIX

DATA_SOURCE_ACTIONS = ["quicksight:DescribeDataSource", "quicksight:DescribeDataSourcePermissions",
                       "quicksight:PassDataSource"]
DATASET_ACTIONS = ["quicksight:DescribeDataSet", "quicksight:DescribeDataSetPermissions",
                   "quicksight:PassDataSet", "quicksight:DescribeIngestion", "quicksight:ListIngestions"]


class Dashboards(Construct):
    def __init__(self, scope: Construct, cid: str, *, lake: s3.IBucket, lake_prefix: str, database_name: str,
                 principal: str | None) -> None:
        super().__init__(scope, cid)
        stack = Stack.of(self)
        self.database = glue.CfnDatabase(self, "Database", catalog_id=Aws.ACCOUNT_ID,
                                         database_input=glue.CfnDatabase.DatabaseInputProperty(
                                             name=database_name,
                                             description="Lakefront's lake: Iceberg tables raw_* and mart_*"))
        self.workgroup = athena.CfnWorkGroup(
            self, "WorkGroup", name="lakefront", description="Lakefront dashboards over the marts",
            recursive_delete_option=False, state="ENABLED",
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True, publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=10 * 1024**3,
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{lake.bucket_name}/{ATHENA_RESULTS_PREFIX}",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_S3"))))
        # The role QuickSight assumes for this data source: the marts and Athena's results, nothing else.
        self.role = iam.Role(self, "QuickSightRole", assumed_by=iam.ServicePrincipal("quicksight.amazonaws.com"),
                             description="QuickSight over the Lakefront marts through Athena")
        lake.grant_read(self.role, f"{lake_prefix}/marts/*")
        lake.grant_read_write(self.role, f"{ATHENA_RESULTS_PREFIX}*")
        workgroup_arn = stack.format_arn(service="athena", resource="workgroup", resource_name="lakefront")
        self.role.add_to_policy(iam.PolicyStatement(
            actions=["athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults",
                     "athena:StopQueryExecution", "athena:GetWorkGroup"], resources=[workgroup_arn]))
        self.role.add_to_policy(iam.PolicyStatement(
            actions=["glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables",
                     "glue:GetPartitions"],
            resources=[stack.format_arn(service="glue", resource="catalog"),
                       stack.format_arn(service="glue", resource="database", resource_name=database_name),
                       stack.format_arn(service="glue", resource="table", resource_name=f"{database_name}/*")]))
        self.data_source: quicksight.CfnDataSource | None = None
        if principal:
            self._quicksight(principal, database_name)

    def _quicksight(self, principal: str, database_name: str) -> None:
        self.data_source = quicksight.CfnDataSource(
            self, "DataSource", aws_account_id=Aws.ACCOUNT_ID, data_source_id="lakefront-marts",
            name="Lakefront marts (Athena)", type="ATHENA",
            data_source_parameters=quicksight.CfnDataSource.DataSourceParametersProperty(
                athena_parameters=quicksight.CfnDataSource.AthenaParametersProperty(
                    work_group=self.workgroup.name, role_arn=self.role.role_arn)),
            ssl_properties=quicksight.CfnDataSource.SslPropertiesProperty(disable_ssl=False),
            permissions=[quicksight.CfnDataSource.ResourcePermissionProperty(
                principal=principal, actions=DATA_SOURCE_ACTIONS)])
        self.data_source.add_resource_dependency(self.workgroup, "the data source names the workgroup by name")
        for model in DATASETS:
            quicksight.CfnDataSet(
                self, f"DataSet{model.title().replace('_', '')}", aws_account_id=Aws.ACCOUNT_ID,
                data_set_id=f"lakefront-{model.replace('_', '-')}", name=model, import_mode="DIRECT_QUERY",
                physical_table_map={model.replace("_", "-"): quicksight.CfnDataSet.PhysicalTableProperty(
                    relational_table=quicksight.CfnDataSet.RelationalTableProperty(
                        data_source_arn=self.data_source.attr_arn, catalog="AwsDataCatalog",
                        schema=database_name, name=model,
                        input_columns=[quicksight.CfnDataSet.InputColumnProperty(name=name, type=QUICKSIGHT_TYPES[kind])
                                       for name, kind in MARTS[model]]))},
                permissions=[quicksight.CfnDataSet.ResourcePermissionProperty(
                    principal=principal, actions=DATASET_ACTIONS)])
