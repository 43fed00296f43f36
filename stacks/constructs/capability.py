"""What every event-driven control-plane function gets: its own alarmed dead-letter queue, async
retries and a maximum event age, the shared environment, optionally follow-up schedules of its own,
and rule targets that retry and dead-letter."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from controlplane.events import function_name
from controlplane.policy import Policy
from controlplane.registry import OPS_BUS, Capability
from stacks.constructs.dead_letters import DeadLetterQueue
from stacks.constructs.follow_ups import FollowUpSchedules
from stacks.constructs.lambda_factory import ControlPlaneFunction, SharedLayers
from stacks.constructs.ops_bus import rule_pattern
from stacks.constructs.triage import DELIVERY_RETRIES


def capability_function(scope: Construct, *, name: str, prefix: str, shared: SharedLayers, environment: dict[str, str],
                        retry_attempts: int, max_event_age: Duration, follow_ups: FollowUpSchedules | None = None,
                        **options: Any) -> tuple[DeadLetterQueue, ControlPlaneFunction]:
    dead_letters = DeadLetterQueue(scope, "DeadLetters", queue_name=f"{function_name(prefix, name)}-dlq")
    handler = ControlPlaneFunction(
        scope, "Handler", name=name, prefix=prefix, shared=shared,
        environment={"REJECTS_QUEUE_URL": dead_letters.queue.queue_url, **environment},
        failure_queue=dead_letters.queue, retry_attempts=retry_attempts, max_event_age=max_event_age, **options)
    if follow_ups is not None:
        follow_ups.enable(handler)
    return dead_letters, handler


def rule_target(function: lambda_.IFunction, dead_letters: DeadLetterQueue, max_event_age: Duration) -> targets.LambdaFunction:
    return targets.LambdaFunction(function, retry_attempts=DELIVERY_RETRIES, max_event_age=max_event_age,
                                  dead_letter_queue=dead_letters.queue)


def add_rules(scope: Construct, capability: Capability, target: targets.LambdaFunction, *, ops_bus: events.IEventBus,
              policy: Policy, stack_name: str) -> None:
    """The capability's rules (controlplane.registry), each delivering to `target`."""
    for rule in capability.rules:
        events.Rule(scope, rule.id, event_bus=ops_bus if rule.bus == OPS_BUS else None, description=rule.description,
                    event_pattern=rule_pattern(rule.pattern(policy, stack_name)), targets=[target])
