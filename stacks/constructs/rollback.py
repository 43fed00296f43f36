"""Automatic and on-demand rollback: the rollback Lambda on ops-bus incident and deployment events,
with exactly the permissions its configured targets need."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from controlplane.policy import RollbackPolicy
from stacks.constructs.capability import capability_function
from stacks.constructs.follow_ups import FollowUpSchedules
from stacks.constructs.lambda_factory import SharedLayers


class Rollback(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, prefix: str, rollback: RollbackPolicy,
                 shared: SharedLayers, follow_ups: FollowUpSchedules,
                 environment: dict[str, str], retry_attempts: int, max_event_age: Duration) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.dead_letters, self.handler = capability_function(
            self, name="rollback", prefix=prefix, shared=shared, environment=environment, retry_attempts=retry_attempts,
            max_event_age=max_event_age, follow_ups=follow_ups,
            # One decision at a time: a deployment record and a rollback never interleave in the ledger.
            reserved_concurrency=1,
        )
        role = self.handler.role
        # Confirm before act, and the outcome check: the mapped alarms' state, from CloudWatch.
        role.add_to_policy(iam.PolicyStatement(actions=["cloudwatch:DescribeAlarms"], resources=[
            arn for spec in rollback.targets.values() for arn in spec.alarm_arns]))
        for spec in rollback.targets.values():
            if spec.kind == "lambda-alias":
                arn = stack.format_arn(service="lambda", resource="function", resource_name=spec.function,
                                       arn_format=ArnFormat.COLON_RESOURCE_NAME)
                role.add_to_policy(iam.PolicyStatement(actions=["lambda:GetAlias", "lambda:UpdateAlias"],
                                                       resources=[arn]))
            else:
                arn = stack.format_arn(service="cloudfront", region="", resource="distribution",
                                       resource_name=spec.distribution_id)
                role.add_to_policy(iam.PolicyStatement(
                    actions=["cloudfront:GetDistributionConfig", "cloudfront:UpdateDistribution",
                             "cloudfront:CreateInvalidation"], resources=[arn]))
