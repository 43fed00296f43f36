"""The ops event bus: every incident event and remediation decision, archived and replayable."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from constructs import Construct

from controlplane.events import OPS_SOURCE


def rule_pattern(pattern: dict[str, Any]) -> events.EventPattern:
    """A pattern from controlplane.events as a CDK rule pattern: the deployed rule is the shared one."""
    return events.EventPattern(source=pattern["source"], detail_type=pattern["detail-type"],
                               detail=pattern.get("detail"))


class OpsBus(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, prefix: str) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(self, "Bus", event_bus_name=f"{prefix}-ops")
        self.archive = self.bus.archive(
            "Archive",
            archive_name=f"{prefix}-ops-archive",
            description="Every ops-bus event, for audit and `replay` of decisions",
            event_pattern=events.EventPattern(source=[OPS_SOURCE]),
            retention=Duration.days(365),
        )

    def grant_put(self, grantee: iam.IGrantable) -> None:
        self.bus.grant_put_events_to(grantee)
