"""Automatic and on-demand rollback: the rollback Lambda on ops-bus incident and deployment events,
with exactly the permissions its configured targets need."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from controlplane.policy import RollbackPolicy, RollbackTarget
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
        # The targets in the hub's account and Region; those in member accounts are acted on through
        # their spoke's remediation role (stacks/spoke_stack.py), which has the same statements there.
        local = [spec for spec in rollback.targets.values() if (spec.account, spec.region) == (stack.account, stack.region)]
        for statement in target_statements(self, local):
            self.handler.role.add_to_policy(statement)


def target_statements(scope: Construct, targets: list[RollbackTarget]) -> list[iam.PolicyStatement]:
    """What rolling `targets` back takes, on them only: their alarms' state (confirm before act, the
    outcome check) and their switch (an alias, a distribution's origin path and invalidation)."""
    stack = Stack.of(scope)
    statements = [iam.PolicyStatement(actions=["cloudwatch:DescribeAlarms"], resources=[
        arn for spec in targets for arn in spec.alarm_arns])] if targets else []
    for spec in targets:
        if spec.kind == "lambda-alias":
            arn = stack.format_arn(service="lambda", resource="function", resource_name=spec.function,
                                   account=spec.account, region=spec.region, arn_format=ArnFormat.COLON_RESOURCE_NAME)
            statements.append(iam.PolicyStatement(actions=["lambda:GetAlias", "lambda:UpdateAlias"], resources=[arn]))
        else:
            arn = stack.format_arn(service="cloudfront", region="", account=spec.account, resource="distribution",
                                   resource_name=spec.distribution_id)
            statements.append(iam.PolicyStatement(
                actions=["cloudfront:GetDistributionConfig", "cloudfront:UpdateDistribution",
                         "cloudfront:CreateInvalidation"], resources=[arn]))
    return statements
