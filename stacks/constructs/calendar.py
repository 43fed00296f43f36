"""The maintenance calendar: the calendar Lambda, the group of the standing schedules (one per
configured runbook task is the registry's), and native alarm mute rules for windows known at deploy
time."""

from __future__ import annotations

from fnmatch import fnmatchcase

from aws_cdk import ArnFormat, Duration, Stack, TimeZone
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from controlplane.events import calendar_group
from controlplane.policy import Policy, WindowTemplate
from stacks.constructs.capability import capability_function
from stacks.constructs.follow_ups import FollowUpSchedules
from stacks.constructs.lambda_factory import SharedLayers
from stacks.constructs.nag import acknowledge


class MaintenanceCalendar(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, prefix: str, policy: Policy,
                 shared: SharedLayers, follow_ups: FollowUpSchedules,
                 environment: dict[str, str], retry_attempts: int, max_event_age: Duration,
                 alarms: dict[str, tuple[cloudwatch.Alarm, str]]) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters, self.handler = capability_function(
            self, name="calendar", prefix=prefix, shared=shared, environment=environment, retry_attempts=retry_attempts,
            max_event_age=max_event_age, follow_ups=follow_ups,
            # The checklists read the alarms' metrics and ask Logs Insights for the application's
            # errors: these calls accept no resource scope (a query is named by its id).
            unscoped_actions=("cloudwatch:GetMetricData", "logs:GetQueryResults", "logs:StopQuery"))
        if policy.synthetics.enabled:
            # The health check: the canary's latest run.
            self.handler.role.add_to_policy(iam.PolicyStatement(actions=["synthetics:GetCanaryRuns"], resources=[
                Stack.of(self).format_arn(service="synthetics", resource="canary",
                                          resource_name=policy.synthetics.canary_name,
                                          arn_format=ArnFormat.COLON_RESOURCE_NAME)]))
        if policy.investigate.log_groups:
            # The query itself: over the application's log groups only.
            groups = [Stack.of(self).format_arn(service="logs", resource="log-group", resource_name=f"{group}:*",
                                                arn_format=ArnFormat.COLON_RESOURCE_NAME)
                      for group in policy.investigate.log_groups]
            self.handler.role.add_to_policy(iam.PolicyStatement(actions=["logs:StartQuery"], resources=groups))
            acknowledge(self.handler.role, {
                f"AwsSolutions::AwsSolutions-IAM5[Resource::{group}]": "A log group's ARN as IAM names it for "
                "StartQuery ends in :* (its streams); the group is the configured one." for group in groups})

        self.group_name = calendar_group(prefix)
        self.group = scheduler.CfnScheduleGroup(self, "Group", name=self.group_name)

        self.mute_rules = [
            self._mute_rule(name, spec, policy, alarms)
            for name, spec in policy.maintenance.windows.items() if spec.mute_alarm_actions
        ]

    def _mute_rule(self, name: str, spec: WindowTemplate, policy: Policy,
                   alarms: dict[str, tuple[cloudwatch.Alarm, str]]) -> cloudwatch.AlarmMuteRule:
        """Mute the in-scope alarms' own actions on the window's schedule. Mute rules take five-field
        cron; Scheduler's year field is dropped and its `?` becomes `*`."""
        minute, hour, day, month, week_day, _year = policy.schedules[name][5:-1].split()
        in_scope = [alarm for alarm_name, (alarm, component) in sorted(alarms.items())
                    if component in spec.components or any(fnmatchcase(alarm_name, p) for p in spec.alarms)]
        return cloudwatch.AlarmMuteRule(
            self, f"Mute-{name}",
            description=f"Maintenance window {name}: {spec.message}"[:1024],
            alarms=in_scope,
            duration=Duration.minutes(spec.duration_minutes),
            schedule=cloudwatch.ScheduleExpression.cron(
                minute=minute, hour=hour, day=None if day == "?" else day, month=month,
                week_day=None if week_day == "?" else week_day, time_zone=TimeZone.of(policy.timezone)),
        )
