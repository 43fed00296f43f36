"""The ops event bus: every incident event and remediation decision, archived and replayable."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from constructs import Construct

from controlplane.events import DEPLOYMENT_COMPLETED, OPS_SOURCE, ops_bus_name


def rule_pattern(pattern: dict[str, Any]) -> events.EventPattern:
    """A pattern from controlplane.events as a CDK rule pattern: the deployed rule is the shared one."""
    return events.EventPattern(source=pattern["source"], detail_type=pattern["detail-type"],
                               detail=pattern.get("detail"))


class OpsBus(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, prefix: str) -> None:
        super().__init__(scope, construct_id)
        self.bus_name = ops_bus_name(prefix)
        self.bus = events.EventBus(self, "Bus", event_bus_name=self.bus_name)
        self.archive = self.bus.archive(
            "Archive",
            archive_name=f"{prefix}-ops-archive",
            description="Every ops-bus event, for audit and `replay` of decisions",
            event_pattern=events.EventPattern(source=[OPS_SOURCE]),
            retention=Duration.days(365),
        )

        self.putters: list[tuple[str, tuple[str, ...]]] = []  # (role ARN, the detail-types it may put)

    def grant_put(self, role: iam.IRole, detail_types: tuple[str, ...]) -> None:
        """Let a function's role put exactly these detail-types on the bus."""
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=["events:PutEvents"], resources=[self.bus.event_bus_arn],
            conditions={"StringEquals": {"events:detail-type": list(detail_types)}}))
        self.putters.append((role.role_arn, detail_types))

    def lock(self, deployers: tuple[str, ...]) -> None:
        """The bus's own policy: only our functions (each its detail-types) and the configured
        deployers ("Deployment Completed" only) may put events on it, whatever else IAM allows in the
        account. Principals with no ARN (AWS services replaying the archive) are not matched."""
        allowed = [arn for arn, _ in self.putters] + list(deployers)
        # By name, not by reference: the bus's own ARN in its own policy would depend on itself.
        bus_arn = Stack.of(self).format_arn(service="events", resource="event-bus", resource_name=self.bus_name)
        statements = [("OnlyOurFunctionsAndDeployers", iam.PolicyStatement(
            effect=iam.Effect.DENY, principals=[iam.AnyPrincipal()], actions=["events:PutEvents"],
            resources=[bus_arn],
            conditions={"Null": {"aws:PrincipalArn": "false"}, "ArnNotEquals": {"aws:PrincipalArn": allowed}}))]
        for index, (arn, detail_types) in enumerate([*self.putters, *((d, (DEPLOYMENT_COMPLETED,)) for d in deployers)]):
            statements.append((f"OnlyItsDetailTypes{index}", iam.PolicyStatement(
                effect=iam.Effect.DENY, principals=[iam.AnyPrincipal()], actions=["events:PutEvents"],
                resources=[bus_arn],
                conditions={"ArnEquals": {"aws:PrincipalArn": arn},
                            "StringNotEquals": {"events:detail-type": list(detail_types)}})))
        if deployers:
            # Deployers in other accounts need an allow here (same-account ones need it in IAM too).
            statements.append(("DeployersAnnounceDeployments", iam.PolicyStatement(
                principals=[iam.ArnPrincipal(arn) for arn in deployers], actions=["events:PutEvents"],
                resources=[bus_arn],
                conditions={"StringEquals": {"events:detail-type": [DEPLOYMENT_COMPLETED]}})))
        # The bus's own Policy property (one document), not AWS::Events::EventBusPolicy resources.
        bus = self.bus.node.default_child
        assert isinstance(bus, events.CfnEventBus)
        bus.add_property_override("Policy", {"Version": "2012-10-17", "Statement": [
            statement.to_statement_json() | {"Sid": sid} for sid, statement in statements]})
