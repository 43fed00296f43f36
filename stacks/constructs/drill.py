"""The weekly fire drill: the drill Lambda on a schedule, allowed to flip the drill alarm and nothing
else, to read the ledger's outbox and record its run, and to page P1 directly when the drill fails."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from controlplane.policy import DrillPolicy
from stacks.constructs.capability import capability_function
from stacks.constructs.kms_grants import grant_key_use
from stacks.constructs.lambda_factory import SharedLayers

# Polling for both hops (open, resolve) within the configured time limit, plus the set-up.
OVERHEAD_SECONDS = 60


class FireDrill(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, prefix: str, shared: SharedLayers,
                 environment: dict[str, str], drill: DrillPolicy,
                 page_topic: sns.ITopic, key: kms.IKey,
                 max_event_age: Duration) -> None:
        super().__init__(scope, construct_id)
        # Never retried: a failed drill pages; running it again would flip the alarm twice.
        self.dead_letters, self.handler = capability_function(
            self, name="drill", prefix=prefix, shared=shared, environment=environment, retry_attempts=0,
            max_event_age=max_event_age, timeout_seconds=2 * drill.timeout_seconds + OVERHEAD_SECONDS)
        alarm = Stack.of(self).format_arn(service="cloudwatch", resource="alarm", resource_name=drill.alarm,
                                          arn_format=ArnFormat.COLON_RESOURCE_NAME)
        self.handler.role.add_to_principal_policy(iam.PolicyStatement(
            actions=["cloudwatch:SetAlarmState", "cloudwatch:DescribeAlarms"], resources=[alarm]))
        # The failure page goes to P1 directly, not through the pipeline under test.
        iam.Grant.add_to_principal(grantee=self.handler.role, actions=["sns:Publish"], resource_arns=[page_topic.topic_arn])
        grant_key_use(key, self.handler.role)
