"""Event contracts, defined once: the stacks build their rules from these patterns and the local
runtime routes with the same patterns, so local routing is the deployed routing."""

from __future__ import annotations

import re
from typing import Any

from controlplane import keys
from controlplane.policy import RollbackPolicy, WafPolicy

OPS_SOURCE = "ops.control-plane"

INCIDENT_OPENED = "Incident Opened"
INCIDENT_UPDATED = "Incident Updated"
INCIDENT_RESOLVED = "Incident Resolved"
INCIDENT_DETAIL_TYPES = (INCIDENT_OPENED, INCIDENT_UPDATED, INCIDENT_RESOLVED)

ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"

# Backup verification reports each check of each protected resource as a "virtual alarm" in ALARM
# or OK; triage turns them into incidents like any alarm (dedup, severity tag, windows, escalation).
BACKUP_CHECK = "Backup Check"
BACKUP_COMPONENT = "Backups"  # the component backup findings (and restore tests) belong to
# AWS Backup's own events (default bus) that backup verification judges.
BACKUP_JOB_STATE_CHANGE = "Backup Job State Change"
BACKUP_JOB_PATTERN: dict[str, Any] = {"source": ["aws.backup"],
                                      "detail-type": [BACKUP_JOB_STATE_CHANGE, "Restore Job State Change"]}
# A member account's backup jobs, forwarded by its spokes (restore tests are the hub's own).
MEMBER_BACKUP_JOB_PATTERN: dict[str, Any] = {"source": ["aws.backup"], "detail-type": [BACKUP_JOB_STATE_CHANGE]}
# The hourly verification asks for each member account's own, one invocation each (fan-out through
# the ops bus: 500 accounts' recovery points would not fit one invocation's time).
MEMBER_BACKUPS_DUE = "Member Backups Due"
MEMBER_BACKUPS_DUE_PATTERN: dict[str, Any] = {"source": [OPS_SOURCE], "detail-type": [MEMBER_BACKUPS_DUE]}

# The control plane's fire drill (`opsctl drill`, weekly): its own alarm, on a component of its own
# that is never public (status page) nor counted with the application's incidents (reports).
DRILL_ALARM_KEY = "fire-drill"
DRILL_COMPONENT = "Ops Control Plane (fire drill)"

MAINTENANCE_STARTED = "Maintenance Window Started"
MAINTENANCE_ENDED = "Maintenance Window Ended"
# What the outbox relay announces (triage's incidents, the calendar's windows): all it may put.
RELAYED_DETAIL_TYPES = (*INCIDENT_DETAIL_TYPES, MAINTENANCE_STARTED, MAINTENANCE_ENDED)
# At a window's end triage looks again at the alarms it covered (see triage_service.recheck_after_window).
MAINTENANCE_ENDED_PATTERN: dict[str, Any] = {"source": [OPS_SOURCE], "detail-type": [MAINTENANCE_ENDED]}

# Organization (hub and spokes): every spoke sends a heartbeat through its forwarding path; the hub's
# coverage check reports each account × Region pair to triage as the virtual alarm `{prefix}-blind-spot`
# in that account and Region (ALARM: quiet, or its spoke role cannot be assumed).
SPOKE_SOURCE = "ops.spoke"
SPOKE_HEARTBEAT = "Spoke Heartbeat"
HEARTBEAT_PATTERN: dict[str, Any] = {"source": [SPOKE_SOURCE], "detail-type": [SPOKE_HEARTBEAT]}
COVERAGE_CHECK = "Coverage Check"
COVERAGE_COMPONENT = "Coverage"


def findings_pattern(organization: bool) -> dict[str, Any]:
    """What triage takes from the ops bus as virtual alarms: our own checks' findings (the coverage
    check's only where there is an organization to cover)."""
    return {"source": [OPS_SOURCE], "detail-type": [BACKUP_CHECK, *([COVERAGE_CHECK] if organization else [])]}


def blind_spot_alarm(prefix: str) -> str:
    """The virtual alarm of a member account × Region the hub cannot see (in that account and Region)."""
    return f"{prefix}-blind-spot"


# Default-bus rule feeding triage: every alarm state change in the account, ours and others'.
ALARM_STATE_CHANGE_PATTERN: dict[str, Any] = {
    "source": ["aws.cloudwatch"],
    "detail-type": [ALARM_STATE_CHANGE],
}


# Every incident opened, whatever its remediation: the escalation matrix's clocks start.
INCIDENT_OPENED_PATTERN: dict[str, Any] = {"source": [OPS_SOURCE], "detail-type": [INCIDENT_OPENED]}


# Everything the status page shows changes with one of these.
STATUS_PAGE_PATTERN: dict[str, Any] = {"source": [OPS_SOURCE], "detail-type": [
    *INCIDENT_DETAIL_TYPES, MAINTENANCE_STARTED, MAINTENANCE_ENDED]}


def stack_status_pattern(stack_name: str) -> dict[str, Any]:
    """Our own stack finished deploying: remediations re-assert state a deploy may have reset."""
    return {
        "source": ["aws.cloudformation"],
        "detail-type": ["CloudFormation Stack Status Change"],
        "detail": {"stack-id": [{"wildcard": f"*:stack/{stack_name}/*"}],
                   "status-details": {"status": ["UPDATE_COMPLETE", "CREATE_COMPLETE"]}},
    }


# Security findings AWS puts on the default bus; triage opens incidents on them (virtual alarms).
GUARDDUTY_FINDING, SECURITY_HUB_FINDINGS = "GuardDuty Finding", "Security Hub Findings - Imported"
GUARDDUTY_PATTERN: dict[str, Any] = {"source": ["aws.guardduty"], "detail-type": [GUARDDUTY_FINDING]}
# CRITICAL and HIGH only (P0, P1), in every workflow state: RESOLVED and SUPPRESSED end the incident.
SECURITY_HUB_PATTERN: dict[str, Any] = {
    "source": ["aws.securityhub"], "detail-type": [SECURITY_HUB_FINDINGS],
    "detail": {"findings": {"Severity": {"Label": ["CRITICAL", "HIGH"]}}},
}


# AWS Health's account-specific events (issues with a service we use, changes scheduled on it).
HEALTH_EVENT, HEALTH_COMPONENT = "AWS Health Event", "AWS Health"
HEALTH_PATTERN: dict[str, Any] = {
    "source": ["aws.health"], "detail-type": [HEALTH_EVENT],
    "detail": {"eventScopeCode": ["ACCOUNT_SPECIFIC"], "eventTypeCategory": ["issue", "scheduledChange"]},
}


# Configuration drift: AWS Config's managed rule detects our stacks' drift (CloudFormation drift
# detection) and puts each stack's compliance change on the default bus; triage opens a P2 on it.
DRIFT_COMPONENT, CONFIG_COMPLIANCE_CHANGE = "Configuration Drift", "Config Rules Compliance Change"
DRIFT_MANAGED_RULE = "CLOUDFORMATION_STACK_DRIFT_DETECTION_CHECK"


def drift_rule_name(prefix: str) -> str:
    return f"{prefix}-stack-drift"


def drift_pattern(rule_name: str, stacks: list[str]) -> dict[str, Any]:
    """Our rule's compliance changes of the watched stacks (it evaluates every stack of the account)."""
    return {"source": ["aws.config"], "detail-type": [CONFIG_COMPLIANCE_CHANGE],
            "detail": {"configRuleName": [rule_name], "messageType": ["ComplianceChangeNotification"],
                       "resourceId": [{"wildcard": f"arn:aws:cloudformation:*:*:stack/{stack}/*"} for stack in stacks]}}


# PagerDuty (Events API v2 out, v3 webhooks back): the incidents of the severities it owns.
PAGERDUTY_EVENTS_URLS = {"us": "https://events.pagerduty.com/v2/enqueue",
                         "eu": "https://events.eu.pagerduty.com/v2/enqueue"}


def pagerduty_pattern(severities: list[str]) -> dict[str, Any]:
    """Every incident event at a severity PagerDuty owns (an incident only moves up, so its later
    events carry that severity too)."""
    return {"source": [OPS_SOURCE], "detail-type": list(INCIDENT_DETAIL_TYPES), "detail": {"severity": sorted(severities)}}


def pagerduty_secret_name(prefix: str, service: str) -> str:
    """A PagerDuty service's routing key (the platform team puts it; the template never holds it)."""
    return f"{prefix}/pagerduty/{service}"


def pagerduty_signing_secret_name(prefix: str) -> str:
    """The webhook subscription's signing secrets: every one of a rotation is accepted."""
    return f"{prefix}/pagerduty/webhook-signing"


def stack_name(prefix: str) -> str:
    return f"{prefix}-control-plane"


def restore_testing_plan_name(prefix: str) -> str:
    """Our AWS Backup restore-testing plan (its name allows letters, digits and underscores only)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", f"{prefix}_restore_tests")


def restore_copy_prefix(prefix: str) -> str:
    """How every copy our restore tests make is named: the verifier may delete these and no others
    (AWS Backup's own restore-testing copies are named awsbackup-restore-test-…, and deleted by it)."""
    return f"{prefix}-restore-test-"


def function_name(prefix: str, function: str) -> str:
    """A function's deployed name: functions/<function> is {app}-{env}-<function, with hyphens>."""
    return f"{prefix}-{function.replace('_', '-')}"


def scheduler_role_name(function_name: str) -> str:
    """The role EventBridge Scheduler invokes one function with (it may invoke that function only)."""
    return f"{function_name}-scheduler"


def function_arn(region: str, account: str, prefix: str, function: str) -> str:
    return f"arn:aws:lambda:{region}:{account}:function:{function_name(prefix, function)}"


def scheduler_role_arn(account: str, prefix: str, function: str) -> str:
    return f"arn:aws:iam::{account}:role/{scheduler_role_name(function_name(prefix, function))}"


# The names of the stack's other shared resources ({app}-{env}-…), for the constructs that create
# them and for opsctl and the local world, which find them by name.
def ops_bus_name(prefix: str) -> str:
    return f"{prefix}-ops"


def intake_bus_name(prefix: str) -> str:
    """The hub's intake bus: the organization's spokes forward their accounts' AWS events to it."""
    return f"{prefix}-intake"


def remediation_role_name(prefix: str) -> str:
    """The role every spoke account holds for the hub's functions to act and look there."""
    return f"{prefix}-remediation"


def spoke_stack_set_name(prefix: str) -> str:
    return f"{prefix}-spoke"


def ledger_table_name(prefix: str) -> str:
    return f"{prefix}-ledger"


# Dead-letter queues other than the functions' own: undeliverable notifications, follow-ups.
NOTIFY, FOLLOW_UPS = "notify", "follow-ups"


def dead_letter_queue_name(prefix: str, owner: str) -> str:
    """A function's own (owner: its folder), or NOTIFY's or FOLLOW_UPS'."""
    return f"{function_name(prefix, owner)}-dlq"


def notify_topic(prefix: str, severity: str) -> str:
    return f"{prefix}-notify-{severity.lower()}"


def intake_topic(prefix: str) -> str:
    """The SNS topic alarms (ours and the allowed accounts') may name as their action."""
    return f"{prefix}-alarm-intake"


def calendar_group(prefix: str) -> str:
    """The standing schedules: the runbook calendar, reports, backup checks, the fire drill."""
    return f"{prefix}-calendar"


def checks_group(prefix: str) -> str:
    """One-time follow-up checks the functions create for themselves (and the WAF's baseline job)."""
    return f"{prefix}-checks"


def backup_plan_name(prefix: str) -> str:
    return f"{prefix}-backups"


# The ledger stream's records the outbox relay receives (a Lambda event-source filter, which uses
# the EventBridge pattern syntax): new OUTBOX items only, not their TTL deletion nor other items.
# Attempts of the ledger stream's event-source mapping per record after the first, before the record
# goes to the relay's dead-letter queue (each failure also bisects the batch).
OUTBOX_RELAY_RETRIES = 10
OUTBOX_STREAM_FILTER: dict[str, Any] = {
    "eventName": ["INSERT"],
    "dynamodb": {"Keys": {keys.PK: {"S": [keys.OUTBOX]}}},
}


# Pipelines announce deployments on the ops bus (schema in the README).
DEPLOY_SOURCE = "ops.deploy"
DEPLOYMENT_COMPLETED = "Deployment Completed"
DEPLOYMENT_PATTERN: dict[str, Any] = {"source": [DEPLOY_SOURCE], "detail-type": [DEPLOYMENT_COMPLETED]}


def rollback_pattern(rollback: RollbackPolicy) -> dict[str, Any]:
    """Incidents that may roll a target back: opened, actionable, severe enough, on a mapped alarm
    (by ARN). `rollback`: the compiled policy's section."""
    mapped = [arn for target in rollback.targets.values() for arn in target.alarm_arns]
    return {
        "source": [OPS_SOURCE],
        "detail-type": [INCIDENT_OPENED],
        "detail": {"actionable": [True], "severity": list(rollback.severities), "alarm_arn": sorted(mapped)},
    }


def waf_pattern(waf: WafPolicy) -> dict[str, Any]:
    """Incidents that turn rate limiting on and off: actionable, on the alarms the compiled policy's
    `waf` section names as its triggers (by ARN: a name alone may be anyone's). The ARN is the whole
    test, as for rollback: a member account's alarm carries no remediation hint of our config's."""
    return {
        "source": [OPS_SOURCE],
        "detail-type": [INCIDENT_OPENED, INCIDENT_RESOLVED],
        "detail": {"actionable": [True], "alarm_arn": sorted(waf.trigger_alarm_arns)},
    }
