"""The ledger table: incidents, alarm records, counters (and later decision records)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from controlplane.events import ledger_table_name
from controlplane.keys import INDEX, TABLE_KEYS
from controlplane.registry import Capability
from stacks.constructs.kms_grants import grant_key_use


class Ledger(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, prefix: str, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.key = key
        self.table = dynamodb.TableV2(
            self, "Table",
            table_name=ledger_table_name(prefix),
            partition_key=dynamodb.Attribute(name=TABLE_KEYS["partition"], type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=TABLE_KEYS["sort"], type=dynamodb.AttributeType.STRING),
            billing=dynamodb.Billing.on_demand(),
            encryption=dynamodb.TableEncryptionV2.customer_managed_key(key),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
            time_to_live_attribute="expires_at",
            # The outbox relay reads new OUTBOX items from the stream.
            dynamo_stream=dynamodb.StreamViewType.NEW_IMAGE,
            global_secondary_indexes=[
                dynamodb.GlobalSecondaryIndexPropsV2(
                    index_name=INDEX,
                    partition_key=dynamodb.Attribute(name=TABLE_KEYS["index_partition"], type=dynamodb.AttributeType.STRING),
                    sort_key=dynamodb.Attribute(name=TABLE_KEYS["index_sort"], type=dynamodb.AttributeType.STRING),
                )
            ],
        )

    def grant(self, grantee: iam.IGrantable, capability: Capability) -> None:
        """Exactly the item operations the capability's repository operations declare
        (TransactWriteItems is authorised per item: its Put, Update and Delete need PutItem,
        UpdateItem and DeleteItem), the index's listings if it reads them, and use of the table's key."""
        iam.Grant.add_to_principal(grantee=grantee, actions=[f"dynamodb:{a}" for a in capability.ledger_actions],
                                   resource_arns=[self.table.table_arn])
        if capability.lists:
            iam.Grant.add_to_principal(grantee=grantee, actions=["dynamodb:Query"],
                                       resource_arns=[f"{self.table.table_arn}/index/{INDEX}"])
        grant_key_use(self.key, grantee)
