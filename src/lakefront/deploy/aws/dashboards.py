"""Dashboards (the QuickSight role): Glue tables over the marts, an Athena workgroup, and a QuickSight data
source and datasets over them. What stays console-only is in docs/aws.md."""

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

PARQUET = glue.CfnTable.SerdeInfoProperty(
    serialization_library="org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe")
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
                                             name=database_name, description="Lakefront marts (lake/marts)"))
        self.tables = {}
        for model, columns in MARTS.items():
            table = glue.CfnTable(
                self, f"Table{model.title().replace('_', '')}", catalog_id=Aws.ACCOUNT_ID,
                database_name=database_name,
                table_input=glue.CfnTable.TableInputProperty(
                    name=model, table_type="EXTERNAL_TABLE",
                    description="Moved to the committed run after each processing run (deploy/aws/catalog.py)",
                    parameters={"classification": "parquet"},
                    storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                        location=f"s3://{lake.bucket_name}/{lake_prefix}/marts/{model}/",
                        input_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                        output_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                        serde_info=PARQUET,
                        columns=[glue.CfnTable.ColumnProperty(name=name, type=kind) for name, kind in columns])))
            table.add_resource_dependency(self.database, "a table is created in its database")
            self.tables[model] = table
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
