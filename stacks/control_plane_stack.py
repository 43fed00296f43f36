"""The control-plane stack: composes the capabilities and makes every grant between them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from controlplane.config import ControlPlaneConfig
from controlplane.events import BACKUP_CHECK, COVERAGE_CHECK, MEMBER_BACKUPS_DUE, RELAYED_DETAIL_TYPES
from controlplane.policy import Policy
from controlplane.registry import CALENDAR_GROUP, CHECKS_GROUP, DEFAULT_BUS, INTAKE_BUS, OPS_BUS, deployed, forwarded_by_spokes
from stacks.bytecode import REPO_ROOT
from stacks.constructs.app_alarms import ApplicationAlarms
from stacks.constructs.backups import BackupVerification
from stacks.constructs.calendar import MaintenanceCalendar
from stacks.constructs.canary import HealthCanary
from stacks.constructs.capability import CapabilityFunction, add_rules, add_schedules, rule_target
from stacks.constructs.dashboard import ControlPlaneDashboard
from stacks.constructs.drift import DriftDetection
from stacks.constructs.drill import FireDrill
from stacks.constructs.follow_ups import FollowUpSchedules
from stacks.constructs.lambda_factory import shared_layers
from stacks.constructs.ledger import Ledger
from stacks.constructs.nag import acknowledge
from stacks.constructs.notifications import SeverityTopics
from stacks.constructs.ops_bus import OpsBus
from stacks.constructs.organization import OrganizationHub
from stacks.constructs.outbox_relay import OutboxRelay
from stacks.constructs.pagerduty import PagerDutyEvents, PagerDutyWebhook
from stacks.constructs.reporting import Reporting
from stacks.constructs.rollback import Rollback
from stacks.constructs.triage import AlarmTriage
from stacks.constructs.waf import WafRateLimiting


def write_policy(config: ControlPlaneConfig, build_dir: Path) -> tuple[Path, dict[str, Any]]:
    """Compile the config into the policy file the Lambdas read (layer path /opt/policy/policy.json)."""
    policy = config.policy()
    layer_dir = build_dir / "policy" / config.prefix
    (layer_dir / "policy").mkdir(parents=True, exist_ok=True)
    (layer_dir / "policy" / "policy.json").write_text(json.dumps(policy, sort_keys=True, indent=1), encoding="utf-8")
    return layer_dir, policy


class ControlPlaneStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: ControlPlaneConfig, powertools_version: str,
                 build_dir: Path = REPO_ROOT / ".build", **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        prefix = config.prefix
        policy_dir, compiled = write_policy(config, build_dir)
        policy = Policy(compiled)
        shared = shared_layers(self, policy_dir=policy_dir, config_version=policy.config_version,
                               powertools_version=powertools_version)

        key = kms.Key(self, "Key", alias=f"alias/{prefix}-control-plane", enable_key_rotation=True,
                      removal_policy=RemovalPolicy.RETAIN,
                      description="Encrypts the ledger and the control plane's SNS topics")
        # CloudWatch alarm actions publish to our encrypted topics (DLQ alarms, SNS intake), and so may
        # the accounts we accept alarms from by SNS (their alarms and their forwarding rules). An
        # organization's members forward through their spokes to the intake bus instead: not listed
        # here, where 500 accounts would not fit the topic's and the key's policies.
        accounts = [config.account, *config.intake["allowed_accounts"]]
        key.add_to_resource_policy(iam.PolicyStatement(
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com"), iam.ServicePrincipal("events.amazonaws.com")],
            resources=["*"],  # in a key policy, "*" means this key
            conditions={"StringEquals": {"aws:SourceAccount": accounts}},
        ))

        ledger = Ledger(self, "Ledger", prefix=prefix, key=key)
        topics = SeverityTopics(self, "Notifications", prefix=prefix, key=key, contacts=config.contacts,
                                channels=config.notifications)
        ops_bus = OpsBus(self, "OpsBus", prefix=prefix)
        triage = AlarmTriage(
            self, "Triage",
            prefix=prefix,
            shared=shared,
            key=key,
            environment={"LEDGER_TABLE": ledger.table.table_name, "OPS_BUS_NAME": ops_bus.bus.event_bus_name,
                         **topics.environment()},
            retry_attempts=config.triage["intake_retry_attempts"],
            max_event_age=Duration.minutes(config.triage["intake_max_event_age_minutes"]),
            accounts=accounts,
        )
        follow_ups = FollowUpSchedules(self, "FollowUps", prefix=prefix)
        follow_ups.enable(triage.handler)  # a flapping incident's resolution page waits for calm
        relay = OutboxRelay(
            self, "OutboxRelay",
            prefix=prefix,
            shared=shared,
            table=ledger.table,
            environment={"LEDGER_TABLE": ledger.table.table_name, "OPS_BUS_NAME": ops_bus.bus.event_bus_name,
                         **topics.environment()},
            max_record_age=Duration.minutes(config.triage["intake_max_event_age_minutes"]),
        )
        ops_bus.grant_put(relay.handler.role, RELAYED_DETAIL_TYPES)

        app_alarms = ApplicationAlarms(self, "ApplicationAlarms", alarms=config.deployed_alarms)

        remediation: dict[str, Any] = {
            "shared": shared,
            "environment": {"LEDGER_TABLE": ledger.table.table_name, "OPS_BUS_NAME": ops_bus.bus.event_bus_name,
                            **topics.environment()},
            "retry_attempts": config.triage["intake_retry_attempts"],
            "max_event_age": Duration.minutes(config.triage["intake_max_event_age_minutes"]),
        }
        waf = WafRateLimiting(self, "Waf", prefix=prefix, waf=policy.waf, follow_ups=follow_ups, **remediation)
        rollback = Rollback(self, "Rollback", prefix=prefix, rollback=policy.rollback, follow_ups=follow_ups, **remediation)
        calendar = MaintenanceCalendar(
            self, "Calendar", prefix=prefix, policy=policy,
            alarms={spec.name: (app_alarms.alarms[spec.key], spec.component) for spec in config.deployed_alarms},
            follow_ups=follow_ups, **remediation)
        reporting = Reporting(self, "Reporting", prefix=prefix,
                              # A REGIONAL WebACL cannot front a distribution, nor can another account's.
                              web_acl_arn=waf.web_acl_arn if policy.waf.scope == "CLOUDFRONT" else None,
                              baseline_alarms=[spec.name for spec in config.alarms if spec.multiplier is not None],
                              **remediation)
        if policy.synthetics.enabled:
            HealthCanary(self, "HealthCanary", policy=policy.synthetics, access_logs=reporting.access_logs)
        backups = BackupVerification(self, "Backups", prefix=prefix, policy=policy,
                                     access_logs=reporting.access_logs, **remediation)
        drill = FireDrill(self, "Drill", prefix=prefix, shared=shared, drill=policy.drill,
                          environment=remediation["environment"],
                          page_topic=topics.topics["P1"], key=topics.key, max_event_age=remediation["max_event_age"])
        # Findings go to triage through the ops bus; with an organization, also the hourly fan-out to
        # each member account's own verification.
        ops_bus.grant_put(backups.handler.role,
                          (BACKUP_CHECK, *((MEMBER_BACKUPS_DUE,) if policy.organization.enabled else ())))
        if policy.drift.enabled:
            DriftDetection(self, "Drift", drift=policy.drift)
        # Each function as the registry declares it: its rules and standing schedules, its grants on
        # the ledger (derived from the repository operations it uses), its right to page by itself.
        # A capability with no resources of its own needs no construct of its own.
        built: dict[str, Any] = {"triage": triage, "outbox_relay": relay, "waf_toggle": waf, "rollback": rollback,
                                 "calendar": calendar, "reporting": reporting, "backup_verify": backups, "drill": drill}
        capabilities = deployed(policy)
        if "pagerduty" in {capability.function for capability in capabilities}:
            built["pagerduty"] = PagerDutyEvents(self, "PagerDuty", prefix=prefix, pagerduty=policy.pagerduty, **remediation)
            built["pagerduty_webhook"] = PagerDutyWebhook(self, "PagerDutyWebhook", prefix=prefix, **remediation)
        for capability in capabilities:
            if capability.function not in built:
                built[capability.function] = CapabilityFunction(self, capability, prefix=prefix, follow_ups=follow_ups,
                                                                **remediation)
        buses: dict[str, events.IEventBus | None] = {DEFAULT_BUS: None, OPS_BUS: ops_bus.bus}
        if policy.organization.enabled:
            hub = OrganizationHub(
                self, "Organization", policy=policy,
                forwarded=forwarded_by_spokes(policy),
                assumers=[built[function].handler.role
                          for function in ("triage", "rollback", "coverage", "backup_verify")]
                + ([waf.handler.role] if waf.in_member else []))
            buses[INTAKE_BUS] = hub.bus
            ops_bus.grant_put(built["coverage"].handler.role, (COVERAGE_CHECK,))
        # Last of the bus's grants: its policy admits exactly the putters granted so far.
        ops_bus.lock(config.deployers)
        for capability in capabilities:
            part = built[capability.function]
            function = part.handler.function
            add_rules(part, capability, rule_target(function, part.dead_letters, remediation["max_event_age"]),
                      buses=buses, policy=policy, stack_name=construct_id)
            add_schedules(part, capability, part.handler, part.dead_letters, policy=policy, follow_ups=follow_ups,
                          groups={CALENDAR_GROUP: calendar.group, CHECKS_GROUP: follow_ups.group})
            ledger.grant(function, capability)
            if capability.pages:
                topics.grant_publish(function)
        # Dead-letter alarms page directly: if triage itself is broken, they must not depend on it.
        dead_letters = [*(built[c.function].dead_letters for c in capabilities), topics.dead_letters, follow_ups.dead_letters]
        for queue in dead_letters:
            queue.alarm.add_alarm_action(cw_actions.SnsAction(topics.topics["P1"]))
        # The end-of-window re-check looks at every alarm in ALARM (ours and others', like triage).
        triage.handler.role.add_to_principal_policy(iam.PolicyStatement(
            actions=["cloudwatch:DescribeAlarms"],
            resources=[self.format_arn(service="cloudwatch", resource="alarm", resource_name="*",
                                       arn_format=ArnFormat.COLON_RESOURCE_NAME)]))
        acknowledge(triage.handler.role, {
            f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudwatch:{self.region}:{self.account}"
            ":alarm:*]": "Triage takes every alarm of the account and Region (ours and others'); the re-check at a "
                         "window's end must list the ones still in ALARM. Read-only; alarms of this account only.",
        })
        ControlPlaneDashboard(
            self, "Dashboard",
            prefix=prefix,
            functions=[built[c.function].handler.function for c in capabilities],
            dead_letter_queues=[queue.queue for queue in dead_letters],
            alarms=list(app_alarms.alarms.values()),
            triage_logs=triage.handler.log_group, backup_logs=backups.handler.log_group,
        )
        self.ledger, self.topics, self.ops_bus, self.triage, self.app_alarms = ledger, topics, ops_bus, triage, app_alarms
        self.calendar, self.reporting = calendar, reporting
