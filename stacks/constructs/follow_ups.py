"""Schedules the functions run on: one-time follow-up checks (outcome checks, recovery checks,
expiries) that functions create for themselves, and the recurring ones the stacks define. One group;
one role per function, which may invoke that function only, so no function can schedule another."""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from controlplane.events import FOLLOW_UPS, checks_group, dead_letter_queue_name, scheduler_role_name
from stacks.constructs.dead_letters import DeadLetterQueue
from stacks.constructs.lambda_factory import ControlPlaneFunction
from stacks.constructs.nag import acknowledge

SCHEDULER = "scheduler.amazonaws.com"


class FollowUpSchedules(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, prefix: str) -> None:
        super().__init__(scope, construct_id)
        self.prefix = prefix
        self.group_name = checks_group(prefix)
        self.group = scheduler.CfnScheduleGroup(self, "Group", name=self.group_name)
        # Where Scheduler parks a follow-up it could not deliver (runtime.Dependencies.schedule).
        self.dead_letters = DeadLetterQueue(self, "DeadLetters", queue_name=dead_letter_queue_name(prefix, FOLLOW_UPS))
        self.roles: dict[str, iam.Role] = {}

    def function_arn(self, function_name: str) -> str:
        """By name, not by reference: a function that schedules calls to itself needs its own ARN."""
        return Stack.of(self).format_arn(service="lambda", resource="function", resource_name=function_name,
                                         arn_format=ArnFormat.COLON_RESOURCE_NAME)

    def role_for(self, function_name: str) -> iam.Role:
        """The role schedules of `function_name` run with: it may invoke that function and park what
        it could not deliver, nothing else. Named, so that opsctl can hand it to the schedules it
        creates for that function (`waf block --for 30m`)."""
        if function_name not in self.roles:
            stack = Stack.of(self)
            role = iam.Role(self, f"Role-{function_name.removeprefix(self.prefix + '-')}",
                            role_name=scheduler_role_name(function_name),
                            assumed_by=iam.ServicePrincipal(SCHEDULER, conditions={
                                "StringEquals": {"aws:SourceAccount": stack.account}}))
            role.add_to_policy(iam.PolicyStatement(actions=["lambda:InvokeFunction"],
                                                   resources=[self.function_arn(function_name)]))
            self.dead_letters.queue.grant_send_messages(role)
            self.roles[function_name] = role
        return self.roles[function_name]

    def enable(self, handler: ControlPlaneFunction) -> None:
        """Let the function schedule checks of its own, with the environment it needs for them."""
        function_name, handler_role = handler.function_name, handler.role
        stack = Stack.of(self)
        role = self.role_for(function_name)
        schedules = stack.format_arn(service="scheduler", resource="schedule", resource_name=f"{self.group_name}/*")
        handler_role.add_to_principal_policy(iam.PolicyStatement(actions=["scheduler:CreateSchedule"],
                                                                 resources=[schedules]))
        handler_role.add_to_principal_policy(iam.PolicyStatement(
            actions=["iam:PassRole"], resources=[role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": SCHEDULER}}))
        acknowledge(handler_role, {
            f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:{stack.region}:{stack.account}"
            f":schedule/{self.group_name}/*]": "Follow-up checks are one-time schedules named at run time after the "
                                              "decision or incident they check; creation is confined to this "
                                              "stack's own schedule group, and the only role the function may pass "
                                              "them invokes the function itself.",
        })
        environment = {"SCHEDULE_GROUP": self.group_name, "SCHEDULER_ROLE_ARN": role.role_arn,
                       "SELF_ARN": self.function_arn(function_name), "SCHEDULE_DLQ_ARN": self.dead_letters.queue.queue_arn}
        for key, value in environment.items():
            handler.function.add_environment(key, value)
