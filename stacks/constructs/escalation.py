"""The escalation matrix: the escalation Lambda on every "Incident Opened", arming one-time
acknowledgement and resolution deadlines that call it back."""

from __future__ import annotations

from aws_cdk import Duration
from constructs import Construct

from stacks.constructs.capability import capability_function
from stacks.constructs.follow_ups import FollowUpSchedules
from stacks.constructs.lambda_factory import SharedLayers


class Escalation(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, prefix: str, shared: SharedLayers,
                 follow_ups: FollowUpSchedules, environment: dict[str, str],
                 retry_attempts: int, max_event_age: Duration) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters, self.handler = capability_function(
            self, name="escalation", prefix=prefix, shared=shared, environment=environment, retry_attempts=retry_attempts,
            max_event_age=max_event_age, follow_ups=follow_ups)
