"""The maintenance calendar: the calendar Lambda, one Scheduler schedule per configured runbook task
(in the configured time zone), the end-of-window re-check rule, and native alarm mute rules for
windows known at deploy time."""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from typing import Any

from aws_cdk import Duration, TimeZone
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from controlplane.events import calendar_group
from stacks.constructs.capability import capability_function
from stacks.constructs.follow_ups import FollowUpSchedules
from stacks.constructs.lambda_factory import SharedLayers

# Scheduler redelivers a task it could not deliver for up to an hour: a checklist or window that
# late is still worth running (the window is skipped if its whole duration has passed).
TASK_RETRIES = 10
TASK_MAX_AGE = Duration.hours(1)


class MaintenanceCalendar(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, prefix: str, policy: dict[str, Any],
                 shared: SharedLayers, follow_ups: FollowUpSchedules,
                 environment: dict[str, str], retry_attempts: int, max_event_age: Duration,
                 alarms: dict[str, tuple[cloudwatch.Alarm, str]]) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters, self.handler = capability_function(
            self, name="calendar", prefix=prefix, shared=shared, environment=environment, retry_attempts=retry_attempts,
            max_event_age=max_event_age, follow_ups=follow_ups)
        function = self.handler.function

        self.group_name = calendar_group(prefix)
        self.group = scheduler.CfnScheduleGroup(self, "Group", name=self.group_name)
        self.schedules: dict[str, scheduler.CfnSchedule] = {}
        for name, expression in policy["schedules"].items():
            schedule = scheduler.CfnSchedule(
                self, f"Task-{name}",
                name=f"{prefix}-{name}"[:64],
                group_name=self.group_name,
                description=f"Runbook calendar: {name}",
                schedule_expression=expression,
                schedule_expression_timezone=policy["timezone"],
                flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
                target=scheduler.CfnSchedule.TargetProperty(
                    arn=function.function_arn, role_arn=follow_ups.role_for(self.handler.function_name).role_arn,
                    # The scheduled time, not the delivery time: retries open the same window and
                    # run the same checklist occurrence, which the ledger then refuses twice.
                    input=json.dumps({"task": name, "at": "<aws.scheduler.scheduled-time>"}),
                    retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                        maximum_event_age_in_seconds=int(TASK_MAX_AGE.to_seconds()), maximum_retry_attempts=TASK_RETRIES),
                    dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                        arn=self.dead_letters.queue.queue_arn),
                ),
            )
            schedule.node.add_dependency(self.group)
            self.schedules[name] = schedule
        self.dead_letters.queue.grant_send_messages(follow_ups.role_for(self.handler.function_name))

        self.mute_rules = [
            self._mute_rule(name, spec, policy, alarms)
            for name, spec in policy["maintenance"]["windows"].items() if spec["mute_alarm_actions"]
        ]

    def _mute_rule(self, name: str, spec: dict[str, Any], policy: dict[str, Any],
                   alarms: dict[str, tuple[cloudwatch.Alarm, str]]) -> cloudwatch.AlarmMuteRule:
        """Mute the in-scope alarms' own actions on the window's schedule. Mute rules take five-field
        cron; Scheduler's year field is dropped and its `?` becomes `*`."""
        minute, hour, day, month, week_day, _year = policy["schedules"][name][5:-1].split()
        in_scope = [alarm for alarm_name, (alarm, component) in sorted(alarms.items())
                    if component in spec["components"] or any(fnmatchcase(alarm_name, p) for p in spec["alarms"])]
        return cloudwatch.AlarmMuteRule(
            self, f"Mute-{name}",
            description=f"Maintenance window {name}: {spec['message']}"[:1024],
            alarms=in_scope,
            duration=Duration.minutes(spec["duration_minutes"]),
            schedule=cloudwatch.ScheduleExpression.cron(
                minute=minute, hour=hour, day=None if day == "?" else day, month=month,
                week_day=None if week_day == "?" else week_day, time_zone=TimeZone.of(policy["timezone"])),
        )
