"""What every event-driven control-plane function gets: its own alarmed dead-letter queue, async
retries and a maximum event age, the shared environment, optionally follow-up schedules of its own,
rule targets that retry and dead-letter, and its standing schedules."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from controlplane.events import dead_letter_queue_name
from controlplane.policy import Policy
from controlplane.registry import Capability
from stacks.constructs.dead_letters import DeadLetterQueue
from stacks.constructs.follow_ups import FollowUpSchedules
from stacks.constructs.lambda_factory import ControlPlaneFunction, SharedLayers
from stacks.constructs.ops_bus import rule_pattern
from stacks.constructs.triage import DELIVERY_RETRIES


def capability_function(scope: Construct, *, name: str, prefix: str, shared: SharedLayers, environment: dict[str, str],
                        retry_attempts: int, max_event_age: Duration, follow_ups: FollowUpSchedules | None = None,
                        **options: Any) -> tuple[DeadLetterQueue, ControlPlaneFunction]:
    dead_letters = DeadLetterQueue(scope, "DeadLetters", queue_name=dead_letter_queue_name(prefix, name))
    handler = ControlPlaneFunction(
        scope, "Handler", name=name, prefix=prefix, shared=shared,
        environment={"REJECTS_QUEUE_URL": dead_letters.queue.queue_url, **environment},
        failure_queue=dead_letters.queue, retry_attempts=retry_attempts, max_event_age=max_event_age, **options)
    if follow_ups is not None:
        follow_ups.enable(handler)
    return dead_letters, handler


class CapabilityFunction(Construct):
    """A capability that owns no AWS resources of its own (the escalation matrix): its function and
    dead-letter queue, and follow-up schedules when it runs tasks. The registry's entry does the rest."""

    def __init__(self, scope: Construct, capability: Capability, *, prefix: str, shared: SharedLayers,
                 follow_ups: FollowUpSchedules, environment: dict[str, str], retry_attempts: int,
                 max_event_age: Duration) -> None:
        super().__init__(scope, capability.function.title().replace("_", ""))
        self.dead_letters, self.handler = capability_function(
            self, name=capability.function, prefix=prefix, shared=shared, environment=environment,
            retry_attempts=retry_attempts, max_event_age=max_event_age,
            follow_ups=follow_ups if capability.tasks else None)


def rule_target(function: lambda_.IFunction, dead_letters: DeadLetterQueue, max_event_age: Duration) -> targets.LambdaFunction:
    return targets.LambdaFunction(function, retry_attempts=DELIVERY_RETRIES, max_event_age=max_event_age,
                                  dead_letter_queue=dead_letters.queue)


def add_rules(scope: Construct, capability: Capability, target: targets.LambdaFunction, *,
              buses: dict[str, events.IEventBus | None], policy: Policy, stack_name: str) -> None:
    """The capability's rules (controlplane.registry), each delivering to `target`; `buses`: the
    registry's bus → ours (None: the default bus)."""
    for rule in (rule for rule in capability.rules if rule.deployed(policy)):
        events.Rule(scope, rule.id, event_bus=buses[rule.bus], description=rule.description,
                    event_pattern=rule_pattern(rule.pattern(policy, stack_name)), targets=[target])


def add_schedules(scope: Construct, capability: Capability, handler: ControlPlaneFunction, dead_letters: DeadLetterQueue, *,
                  policy: Policy, follow_ups: FollowUpSchedules, groups: dict[str, scheduler.CfnScheduleGroup]) -> None:
    """The capability's standing schedules (controlplane.registry), run with the role that may invoke
    only its function; what Scheduler cannot deliver is parked on the function's dead-letter queue."""
    schedules = capability.schedules(policy)
    if not schedules:
        return
    role = follow_ups.role_for(handler.function_name)
    dead_letters.queue.grant_send_messages(role)
    for schedule in schedules:
        scheduler.CfnSchedule(
            scope, schedule.id, name=schedule.deployed_name(follow_ups.prefix),
            group_name=groups[schedule.group].ref,  # the group's name, and a dependency on it
            description=schedule.description,
            schedule_expression=schedule.expression,
            schedule_expression_timezone=policy.timezone if schedule.local_time else None,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=handler.function.function_arn, role_arn=role.role_arn, input=json.dumps(schedule.payload),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_event_age_in_seconds=schedule.max_age_minutes * 60, maximum_retry_attempts=schedule.retries),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(arn=dead_letters.queue.queue_arn)))
