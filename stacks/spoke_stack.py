"""The spoke: what every member account holds in every watched Region, deployed there by the hub's
service-managed StackSet (stacks/constructs/organization.py), the same template everywhere.

- Forwarding: rules on the default bus send the account's AWS events the hub triages (every alarm
  state change) and the spoke's heartbeat to the hub's intake bus, one hop, with a role that may put
  on that bus only, and a dead-letter queue whose alarm is itself forwarded.
- Heartbeat: an EventBridge Scheduler schedule puts a heartbeat on the default bus every few minutes,
  so it travels the forwarding path the alarms travel: a pair that goes quiet is a blind spot.
- Backups: the runbook's backup table in this account and Region, as the hub has it (a vault, a plan
  with one rule per backup class, resources chosen by their tag); the hub verifies them hourly and
  judges their jobs, which the forwarding sends it.
- The remediation role the hub's functions assume (session name: the decision's or incident's id),
  trusting exactly those roles of the hub's account and requiring the organization, allowed only what
  those functions need in this account: read its alarms and its backups' state, switch the rollback
  targets the config places in this account, and flip the rate rule of the WAF's WebACL if it is
  here. IAM is global, so it is made in one Region of each account only.

The template takes the hub's function roles as a parameter (their ARNs are known when the hub
deploys) and references no asset: a StackSet template is its body alone."""

from __future__ import annotations

import json
from typing import Any, cast

from aws_cdk import (
    ArnFormat,
    BootstraplessSynthesizer,
    CfnCondition,
    CfnParameter,
    Duration,
    Fn,
    ICfnConditionExpression,
    RemovalPolicy,
    Stack,
)
from aws_cdk import aws_backup as backup
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from controlplane.events import (
    SPOKE_HEARTBEAT,
    SPOKE_SOURCE,
    dead_letter_queue_name,
    intake_bus_name,
    remediation_role_name,
)
from controlplane.policy import Policy, RollbackTarget
from stacks.constructs.backups import runbook_plan
from stacks.constructs.dead_letters import DeadLetterQueue
from stacks.constructs.nag import acknowledge
from stacks.constructs.ops_bus import rule_pattern
from stacks.constructs.rollback import target_statements
from stacks.constructs.waf import web_acl_arn

HUB_PRINCIPALS = "HubPrincipals"  # the parameter: the hub's function roles that may assume ours
SCHEDULER = "scheduler.amazonaws.com"


class SpokeStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, policy: Policy, forwarded: dict[str, dict[str, Any]],
                 **kwargs: Any) -> None:
        """`forwarded`: rule id → the pattern of what the hub takes from its members (the registry's
        intake-bus rules: AWS's events, and the heartbeat)."""
        super().__init__(scope, construct_id, synthesizer=BootstraplessSynthesizer(), **kwargs)
        prefix, organization = policy.prefix, policy.organization
        hub_principals = CfnParameter(self, HUB_PRINCIPALS, type="CommaDelimitedList",
                                      description="The hub's function roles that may assume the remediation role")
        hub_bus = events.EventBus.from_event_bus_arn(
            self, "HubBus", f"arn:aws:events:{policy.region}:{policy.account}:event-bus/{intake_bus_name(prefix)}")

        dead_letters = DeadLetterQueue(self, "ForwardingDeadLetters", queue_name=dead_letter_queue_name(prefix, "spoke"))
        forward_role = iam.Role(self, "ForwardRole", assumed_by=iam.ServicePrincipal("events.amazonaws.com", conditions={
            "StringEquals": {"aws:SourceAccount": self.account}}))
        forward_role.add_to_policy(iam.PolicyStatement(actions=["events:PutEvents"], resources=[hub_bus.event_bus_arn]))
        forward = targets.EventBus(hub_bus, role=forward_role, dead_letter_queue=dead_letters.queue)
        for rule_id, pattern in forwarded.items():
            events.Rule(self, f"Forward{rule_id}", event_pattern=rule_pattern(pattern), targets=[forward],
                        description=f"To the hub's intake bus ({policy.account} {policy.region})")

        heartbeat_role = iam.Role(self, "HeartbeatRole", assumed_by=iam.ServicePrincipal(SCHEDULER, conditions={
            "StringEquals": {"aws:SourceAccount": self.account}}))
        default_bus = self.format_arn(service="events", resource="event-bus", resource_name="default")
        heartbeat_role.add_to_policy(iam.PolicyStatement(actions=["events:PutEvents"], resources=[default_bus]))
        scheduler.CfnSchedule(
            self, "Heartbeat", name=f"{prefix}-spoke-heartbeat",
            description="The spoke's heartbeat, through the forwarding path its alarms take to the hub",
            schedule_expression=f"rate({organization.heartbeat_minutes} minutes)",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=default_bus, role_arn=heartbeat_role.role_arn,
                input=json.dumps({"spoke_version": policy.config_version}),
                event_bridge_parameters=scheduler.CfnSchedule.EventBridgeParametersProperty(
                    detail_type=SPOKE_HEARTBEAT, source=SPOKE_SOURCE),
                # A late heartbeat is no heartbeat: the next one is due anyway.
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_event_age_in_seconds=organization.heartbeat_minutes * 60, maximum_retry_attempts=0),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(arn=dead_letters.queue.queue_arn)))
        dead_letters.queue.grant_send_messages(heartbeat_role)

        # AWS Backup's own key (aws/backup): a customer key in every account × Region would cost a
        # dollar a month each, 1,500 of them at the scale bench/org_scale.py models.
        vault = backup.BackupVault(self, "Vault", backup_vault_name=policy.backup.vault_name,
                                   removal_policy=RemovalPolicy.RETAIN)
        runbook_plan(self, prefix=prefix, config=policy.backup, timezone=policy.timezone, vault=vault, role_name=None)

        self.role = remediation_role(self, policy, hub_principals.value_as_list)


def remediation_role(scope: Stack, policy: Policy, hub_principals: list[str]) -> iam.Role:
    organization = policy.organization
    # IAM is global: the StackSet deploys this template in every Region, the role in one of them.
    home = CfnCondition(scope, "RoleRegion", expression=Fn.condition_equals(scope.region, organization.regions[0]))
    role = iam.Role(
        scope, "RemediationRole", role_name=remediation_role_name(policy.prefix),
        description="Assumed by the Ops Control Plane hub's functions to look and act in this account",
        max_session_duration=Duration.hours(1),
        # The hub's account as principal, narrowed to its function roles by condition: a trust policy
        # naming the roles themselves breaks for good when one is replaced (IAM keeps its old id).
        assumed_by=iam.AccountPrincipal(policy.account).with_conditions({
            "ArnEquals": {"aws:PrincipalArn": hub_principals},
            "StringEquals": {"aws:PrincipalOrgID": organization.id}}))
    role.node.default_child.cfn_options.condition = home  # type: ignore[union-attr]
    # Triage confirms an alarm claim, rollback its trigger and outcome: any alarm of this account.
    read_policy(scope, "LookAtAlarms", role, home, [iam.PolicyStatement(
        actions=["cloudwatch:DescribeAlarms"],
        resources=[scope.format_arn(service="cloudwatch", region="*", resource="alarm", resource_name="*",
                                    arn_format=ArnFormat.COLON_RESOURCE_NAME)])], {
        "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudwatch:*:<AWS::AccountId>:alarm:*]":
            "The hub confirms any alarm of this account it is told about (triage takes every alarm, as in the "
            "hub's own account). Read-only, this account only.",
    })
    # Backup verification reads what this account protects and how fresh it is (the listings take no
    # resource), and its plan's rules, in any watched Region.
    read_policy(scope, "VerifyBackups", role, home, [
        iam.PolicyStatement(actions=["tag:GetResources", "backup:ListRecoveryPointsByResource",
                                     "backup:ListBackupPlans"], resources=["*"]),
        iam.PolicyStatement(actions=["backup:GetBackupPlan"], resources=[scope.format_arn(
            service="backup", region="*", resource="backup-plan", resource_name="*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME)])], {
        "AwsSolutions::AwsSolutions-IAM5[Resource::*]":
            "tag:GetResources, backup:ListRecoveryPointsByResource and backup:ListBackupPlans take no resource "
            "(Service Authorization Reference). Read-only.",
        "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:backup:*:<AWS::AccountId>:backup-plan:*]":
            "The spoke's plan in each watched Region (its id is made at deploy time there). Read-only.",
    })
    # Each account's own targets only: the template is one, the statements are the account's.
    by_account: dict[str, list[RollbackTarget]] = {}
    for spec in policy.rollback.targets.values():
        if spec.account in organization.accounts:
            by_account.setdefault(spec.account, []).append(spec)
    for account, specs in sorted(by_account.items()):
        account_policy(scope, f"RollbackTargets{account}", role, home, account, target_statements(scope, specs),
                       condition_id=f"Targets{account}")
    # The WAF's WebACL, when the config places it in a member account: read it and flip its rule.
    if policy.waf.account in organization.accounts:
        account_policy(scope, "WafTarget", role, home, policy.waf.account, [iam.PolicyStatement(
            actions=["wafv2:GetWebACL", "wafv2:UpdateWebACL"], resources=[web_acl_arn(scope, policy.waf)])],
            condition_id="WafAccount")
    return role


def account_policy(scope: Stack, construct_id: str, role: iam.Role, home: CfnCondition, account: str,
                   statements: list[iam.PolicyStatement], *, condition_id: str) -> None:
    """A policy of the remediation role made in one member account only: the template is the same
    everywhere, the statements are that account's own targets."""
    # A CfnCondition is a condition expression (jsii's typing does not say so).
    here = CfnCondition(scope, condition_id, expression=Fn.condition_and(
        cast(ICfnConditionExpression, home), Fn.condition_equals(scope.account, account)))
    policy = iam.Policy(scope, construct_id, roles=[role], statements=statements)
    policy.node.default_child.cfn_options.condition = here  # type: ignore[union-attr]


def read_policy(scope: Stack, construct_id: str, role: iam.Role, home: CfnCondition,
                statements: list[iam.PolicyStatement], reasons: dict[str, str]) -> None:
    """A read-only policy of the remediation role, made where the role is (`home`), with cdk-nag's
    findings on its wildcards acknowledged for the reasons given."""
    policy = iam.Policy(scope, construct_id, roles=[role], statements=statements)
    policy.node.default_child.cfn_options.condition = home  # type: ignore[union-attr]
    acknowledge(policy, reasons)
