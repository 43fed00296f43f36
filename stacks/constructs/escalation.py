"""The escalation matrix: the escalation Lambda on every "Incident Opened", arming one-time
acknowledgement and resolution deadlines that call it back."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from constructs import Construct

from controlplane.events import INCIDENT_OPENED_PATTERN
from stacks.constructs.capability import capability_function, rule_target
from stacks.constructs.follow_ups import FollowUpSchedules
from stacks.constructs.lambda_factory import SharedLayers
from stacks.constructs.ops_bus import rule_pattern


class Escalation(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, prefix: str, shared: SharedLayers,
                 ops_bus: events.IEventBus, follow_ups: FollowUpSchedules, environment: dict[str, str],
                 retry_attempts: int, max_event_age: Duration) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters, self.handler = capability_function(
            self, name="escalation", prefix=prefix, shared=shared, environment=environment, retry_attempts=retry_attempts,
            max_event_age=max_event_age, follow_ups=follow_ups)
        events.Rule(self, "OnIncidentOpened", event_bus=ops_bus, event_pattern=rule_pattern(INCIDENT_OPENED_PATTERN),
                    description="Every incident opened → its acknowledgement and resolution deadlines",
                    targets=[rule_target(self.handler.function, self.dead_letters, max_event_age)])
