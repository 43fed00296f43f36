"""The escalation matrix: the escalation Lambda on every "Incident Opened", arming one-time
acknowledgement and resolution deadlines that call it back."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from controlplane.events import INCIDENT_OPENED_PATTERN
from stacks.constructs.dead_letters import DeadLetterQueue
from stacks.constructs.follow_ups import FollowUpSchedules
from stacks.constructs.lambda_factory import ControlPlaneFunction, SharedLayers
from stacks.constructs.ops_bus import rule_pattern
from stacks.constructs.triage import DELIVERY_RETRIES


class Escalation(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, prefix: str, shared: SharedLayers,
                 ops_bus: events.IEventBus, follow_ups: FollowUpSchedules, environment: dict[str, str],
                 retry_attempts: int, max_event_age: Duration) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters = DeadLetterQueue(self, "DeadLetters", queue_name=f"{prefix}-escalation-dlq")
        self.handler = ControlPlaneFunction(
            self, "Handler", name="escalation", prefix=prefix, shared=shared,
            environment={"REJECTS_QUEUE_URL": self.dead_letters.queue.queue_url, **environment},
            failure_queue=self.dead_letters.queue, retry_attempts=retry_attempts, max_event_age=max_event_age,
        )
        function = self.handler.function
        for key, value in follow_ups.allow(self.handler.function_name, self.handler.role).items():
            function.add_environment(key, value)
        events.Rule(self, "OnIncidentOpened", event_bus=ops_bus, event_pattern=rule_pattern(INCIDENT_OPENED_PATTERN),
                    description="Every incident opened → its acknowledgement and resolution deadlines",
                    targets=[targets.LambdaFunction(function, retry_attempts=DELIVERY_RETRIES, max_event_age=max_event_age,
                                                    dead_letter_queue=self.dead_letters.queue)])
