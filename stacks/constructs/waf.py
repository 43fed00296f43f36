"""WAF rate limiting: the WebACL with its pre-provisioned rate rule (COUNT), the toggle Lambda on
ops-bus incident events and on our own stack's deploys, its follow-up schedules and the hourly
traffic baseline job."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import ArnFormat, CfnResource, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from controlplane.events import INCIDENT_OPENED, INCIDENT_RESOLVED, incident_pattern, stack_status_pattern
from stacks.constructs.dead_letters import DeadLetterQueue
from stacks.constructs.lambda_factory import ControlPlaneFunction, SharedLayers
from stacks.constructs.nag import acknowledge
from stacks.constructs.triage import DELIVERY_RETRIES
from stacks.waf_rules import web_acl_properties


def event_pattern(pattern: dict[str, Any]) -> events.EventPattern:
    return events.EventPattern(source=pattern["source"], detail_type=pattern["detail-type"],
                               detail=pattern.get("detail"))


class WafRateLimiting(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        prefix: str,
        waf: dict[str, Any],
        shared: SharedLayers,
        ops_bus: events.IEventBus,
        stack_name: str,
        environment: dict[str, str],
        retry_attempts: int,
        max_event_age: Duration,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.web_acl = CfnResource(self, "WebAcl", type="AWS::WAFv2::WebACL", properties=web_acl_properties(waf))
        self.web_acl_id = self.web_acl.get_att("Id").to_string()
        self.web_acl_arn = self.web_acl.get_att("Arn").to_string()

        self.dead_letters = DeadLetterQueue(self, "DeadLetters", queue_name=f"{prefix}-waf-toggle-dlq")
        self.schedule_group = scheduler.CfnScheduleGroup(self, "Checks", name=f"{prefix}-checks")
        function_name = f"{prefix}-waf-toggle"
        self_arn = stack.format_arn(service="lambda", resource="function", resource_name=function_name,
                                    arn_format=ArnFormat.COLON_RESOURCE_NAME)
        # Named, so that `opsctl waf block --for 30m` can hand it to the expiry schedule it creates.
        self.scheduler_role = iam.Role(self, "SchedulerRole", role_name=f"{prefix}-scheduler",
                                       assumed_by=iam.ServicePrincipal(
            "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": stack.account}}))
        self.scheduler_role.add_to_policy(iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self_arn]))

        self.handler = ControlPlaneFunction(
            self, "Handler",
            name="waf_toggle",
            prefix=prefix,
            shared=shared,
            environment={"WEB_ACL_ID": self.web_acl_id, "SCHEDULE_GROUP": f"{prefix}-checks",
                         "SCHEDULER_ROLE_ARN": self.scheduler_role.role_arn, "SELF_ARN": self_arn,
                         "REJECTS_QUEUE_URL": self.dead_letters.queue.queue_url, **environment},
            failure_queue=self.dead_letters.queue,
            retry_attempts=retry_attempts,
            max_event_age=max_event_age,
            # One at a time: no two toggles race, and pacing per process is pacing per account.
            reserved_concurrency=1,
            unscoped_actions=("cloudwatch:GetMetricStatistics",),
        )
        function = self.handler.function
        target = targets.LambdaFunction(function, retry_attempts=DELIVERY_RETRIES, max_event_age=max_event_age,
                                        dead_letter_queue=self.dead_letters.queue)
        events.Rule(self, "OnIncident", event_bus=ops_bus,
                    description="Traffic-spike incidents opened or resolved → WAF rate limiting",
                    event_pattern=event_pattern(incident_pattern((INCIDENT_OPENED, INCIDENT_RESOLVED),
                                                                 "waf-rate-limit")),
                    targets=[target])
        events.Rule(self, "OnDeploy", description="Our stack deployed → re-assert an active block a deploy reset",
                    event_pattern=event_pattern(stack_status_pattern(stack_name)), targets=[target])
        scheduler.CfnSchedule(
            self, "HourlyBaseline",
            name=f"{prefix}-traffic-baseline",
            group_name=self.schedule_group.name,
            schedule_expression="cron(5 * * * ? *)",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=function.function_arn, role_arn=self.scheduler_role.role_arn,
                input=json.dumps({"task": "compute-baseline"}),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(maximum_event_age_in_seconds=3600,
                                                                       maximum_retry_attempts=3),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                    arn=self.dead_letters.queue.queue_arn),
            ),
        ).node.add_dependency(self.schedule_group)
        self.dead_letters.queue.grant_send_messages(self.scheduler_role)

        # What the toggle does, and nothing else.
        role = self.handler.role
        role.add_to_policy(iam.PolicyStatement(actions=["wafv2:GetWebACL", "wafv2:UpdateWebACL"],
                                               resources=[self.web_acl_arn]))
        role.add_to_policy(iam.PolicyStatement(
            actions=["scheduler:CreateSchedule"],
            resources=[stack.format_arn(service="scheduler", resource="schedule",
                                        resource_name=f"{prefix}-checks/*")]))
        role.add_to_policy(iam.PolicyStatement(actions=["iam:PassRole"], resources=[self.scheduler_role.role_arn]))
        acknowledge(role, {
            f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:{stack.region}:{stack.account}"
            f":schedule/{prefix}-checks/*]": "Follow-up checks are one-time schedules named at run time after the "
                                            "decision or incident they check; creation is confined to this stack's "
                                            "own schedule group, whose only target is this function.",
        })
        traffic_alarm = stack.format_arn(service="cloudwatch", resource="alarm", resource_name=waf["traffic_alarm"],
                                         arn_format=ArnFormat.COLON_RESOURCE_NAME)
        role.add_to_policy(iam.PolicyStatement(actions=["cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm"],
                                               resources=[traffic_alarm]))

        self.blocked_requests = cloudwatch.Alarm(
            self, "BlockedRequests",
            alarm_name=waf["side_effect_alarms"][0],
            alarm_description="The rate rule is blocking requests (expected while a spike is being limited)",
            metric=cloudwatch.Metric(namespace="AWS/WAFV2", metric_name="BlockedRequests", statistic="Sum",
                                     period=Duration.minutes(5),
                                     dimensions_map={"WebACL": waf["web_acl_name"], "Rule": waf["rule_name"]}),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

