"""One-time follow-up checks (outcome checks, recovery checks, expiries) that remediation functions
schedule for themselves with EventBridge Scheduler: one group, one role that may invoke only them."""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from stacks.constructs.dead_letters import DeadLetterQueue
from stacks.constructs.nag import acknowledge


class FollowUpSchedules(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, prefix: str) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.prefix = prefix
        self.group_name = f"{prefix}-checks"
        self.group = scheduler.CfnScheduleGroup(self, "Group", name=self.group_name)
        # Named, so that opsctl (`waf block --for 30m`) can hand it to the expiry schedule it creates.
        self.role = iam.Role(self, "Role", role_name=f"{prefix}-scheduler", assumed_by=iam.ServicePrincipal(
            "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": stack.account}}))
        # Where Scheduler parks a follow-up it could not deliver (runtime.Dependencies.schedule).
        self.dead_letters = DeadLetterQueue(self, "DeadLetters", queue_name=f"{prefix}-follow-ups-dlq")
        self.dead_letters.queue.grant_send_messages(self.role)

    def function_arn(self, function_name: str) -> str:
        """By name, not by reference: a function that schedules calls to itself needs its own ARN."""
        return Stack.of(self).format_arn(service="lambda", resource="function", resource_name=function_name,
                                         arn_format=ArnFormat.COLON_RESOURCE_NAME)

    def allow_invoke(self, function_name: str) -> str:
        """Let schedules (ours, or recurring ones of other groups using this role) invoke the function."""
        arn = self.function_arn(function_name)
        self.role.add_to_policy(iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[arn]))
        return arn

    def allow(self, function_name: str, handler_role: iam.IRole) -> dict[str, str]:
        """Let the function schedule checks of its own; returns the environment it needs."""
        stack = Stack.of(self)
        self_arn = self.allow_invoke(function_name)
        schedules = stack.format_arn(service="scheduler", resource="schedule", resource_name=f"{self.group_name}/*")
        handler_role.add_to_principal_policy(iam.PolicyStatement(actions=["scheduler:CreateSchedule"],
                                                                 resources=[schedules]))
        handler_role.add_to_principal_policy(iam.PolicyStatement(actions=["iam:PassRole"],
                                                                 resources=[self.role.role_arn]))
        acknowledge(handler_role, {
            f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:{stack.region}:{stack.account}"
            f":schedule/{self.group_name}/*]": "Follow-up checks are one-time schedules named at run time after the "
                                              "decision or incident they check; creation is confined to this "
                                              "stack's own schedule group, whose role may invoke only our functions.",
        })
        return {"SCHEDULE_GROUP": self.group_name, "SCHEDULER_ROLE_ARN": self.role.role_arn, "SELF_ARN": self_arn,
                "SCHEDULE_DLQ_ARN": self.dead_letters.queue.queue_arn}
