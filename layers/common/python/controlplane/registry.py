"""The capability registry: each function of the control plane declared once — its folder, what
triggers it (rules on the default bus and the ops bus, standing schedules, scheduled tasks, the
ledger's stream), the ledger operations it uses and whether it pages by itself.

The stack builds each function's rules, schedules, DynamoDB grants, topic grants and dashboard rows
from it; opsctl's routes (which function a delivery reaches in the replay and `opsctl verify`) and
the local world's schedules read the same entries; tests/infra/test_deployment_contract.py holds
the synthesized template to them. Only the stack and opsctl import this module: no Lambda pays for
it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from controlplane import events
from controlplane.deployments import DeploymentLedger
from controlplane.guardrails import Guardrails
from controlplane.ledger import IncidentLedger, Outbox
from controlplane.policy import Policy
from controlplane.records import BackupLedger, Baselines, Coverage, Runs, Webhooks
from controlplane.repository import INDEX_QUERY, actions_of
from controlplane.windows import WindowLedger

# AWS's events of this account (default), ours (ops), and, with an organization, the hub's intake
# bus, where every member account's spokes forward their AWS events and heartbeats.
DEFAULT_BUS, OPS_BUS, INTAKE_BUS = "default", "ops", "intake"
# Schedule groups: the standing calendar (reports, checklists, backup checks, the drill) and the
# follow-up checks functions create for themselves (which also holds the WAF's hourly baseline).
CALENDAR_GROUP, CHECKS_GROUP = "calendar", "checks"
# AWS's scheduled time, substituted by EventBridge Scheduler at each firing: a retried delivery
# carries the same occurrence, which the ledger then refuses twice.
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
# Backup verification runs at most this many at once: the hourly fan-out's one invocation per member
# account waits in Lambda's queue (throttled events are retried, within the rule target's maximum age)
# instead of taking hundreds of the hub's concurrent executions and AssumeRoles in the same second.
BACKUP_VERIFY_CONCURRENCY = 10


@dataclass(frozen=True)
class Rule:
    id: str  # the rule's construct id
    bus: str  # DEFAULT_BUS (AWS's events), OPS_BUS (ours) or INTAKE_BUS (the spokes')
    pattern: Callable[[Policy, str], dict[str, Any]]  # (policy, stack name) → the event pattern
    description: str
    deployed: Callable[[Policy], bool] = lambda policy: True  # whether this config deploys it


@dataclass(frozen=True)
class Schedule:
    id: str  # the construct id (kept stable: a new one would replace a named schedule, and collide)
    name: str  # after the deployment's prefix
    expression: str
    payload: dict[str, Any]
    description: str
    retries: int = 3
    max_age_minutes: int = 60  # Scheduler gives up delivering an occurrence this late (then the DLQ)
    group: str = CALENDAR_GROUP
    local_time: bool = True  # in the configured time zone (else UTC)

    def deployed_name(self, prefix: str) -> str:
        return f"{prefix}-{self.name}"[:64]  # Scheduler's limit


@dataclass(frozen=True)
class Capability:
    function: str  # its folder under functions/, its Lambda's name after the prefix
    ledger: tuple[Callable[..., Any], ...]  # the repository operations it uses: its grants on the ledger
    rules: tuple[Rule, ...] = ()
    tasks: tuple[str, ...] = ()  # the scheduled tasks ({"task": …}) it runs
    schedules: Callable[[Policy], tuple[Schedule, ...]] = lambda policy: ()  # its standing schedules
    pages: bool = False  # publishes to the severity topics itself (the others page through the outbox)
    deployed: Callable[[Policy], bool] = lambda policy: True  # whether this config deploys it at all

    @property
    def ledger_actions(self) -> tuple[str, ...]:
        """The DynamoDB actions it takes on the table's items."""
        return tuple(sorted(actions_of(self.ledger) - {INDEX_QUERY}))

    @property
    def lists(self) -> bool:
        """Whether it reads the index's time-ordered listings (a grant on the index)."""
        return INDEX_QUERY in actions_of(self.ledger)


def _constant(pattern: dict[str, Any]) -> Callable[[Policy, str], dict[str, Any]]:
    return lambda policy, stack_name: pattern


def _calendar_schedules(policy: Policy) -> tuple[Schedule, ...]:
    # Scheduler redelivers a task for up to an hour: a checklist or window that late is still worth
    # running (a window is skipped if its whole duration has passed).
    return tuple(Schedule(f"Task-{name}", name, expression, {"task": name, "at": SCHEDULED_TIME},
                          f"Runbook calendar: {name}", retries=10) for name, expression in policy.schedules.items())


def _reporting_schedules(policy: Policy) -> tuple[Schedule, ...]:
    reports = {"daily": policy.reports.daily, "weekly": policy.reports.weekly, "monthly": policy.reports.monthly}
    return (Schedule("Schedule-status-page", "status-page", policy.status_page.refresh, {"task": "status-page"},
                     "Status page: re-rendered from the ledger", max_age_minutes=5),
            *(Schedule(f"Schedule-{period}-report", f"{period}-report", expression,
                       {"task": "report", "period": period, "at": SCHEDULED_TIME}, f"The {period} report",
                       max_age_minutes=6 * 60) for period, expression in reports.items()),
            # At five past every hour, in UTC: an hour of the week has no local meaning here.
            Schedule("HourlyBaselines", "alarm-baselines", "cron(5 * * * ? *)", {"task": "compute-baselines"},
                     "The thresholds of the alarms that follow their metric's history (traffic, performance)",
                     group=CHECKS_GROUP, local_time=False))


def _backup_schedules(policy: Policy) -> tuple[Schedule, ...]:
    return (Schedule("HourlyVerify", "backup-verify", policy.backup.verify_schedule,
                     {"task": "verify", "at": SCHEDULED_TIME}, "Backup verification: recovery points against the RPOs"),
            Schedule("CriticalRestoreTests", "restore-tests", policy.backup.restore_testing.critical_schedule,
                     {"task": "restore-tests", "at": SCHEDULED_TIME}, "Restore tests of the critical resources"))


def _drill_schedules(policy: Policy) -> tuple[Schedule, ...]:
    # Never retried: running a drill again would flip the alarm twice (a failed drill pages).
    return (Schedule("Weekly", "fire-drill", policy.drill.schedule, {"task": "drill", "at": SCHEDULED_TIME},
                     "Fire drill of the paging pipeline: alarm → ledger → bus → page, and back", retries=0),)


def _pagerduty_configured(policy: Policy) -> bool:
    return bool(policy.pagerduty.services)


def _pagerduty_rule(policy: Policy, stack_name: str) -> dict[str, Any]:
    return events.pagerduty_pattern(list(policy.pagerduty.services))


def _organization(policy: Policy) -> bool:
    return policy.organization.enabled


def _coverage_schedules(policy: Policy) -> tuple[Schedule, ...]:
    return (Schedule("CoverageCheck", "coverage-check", f"rate({policy.organization.heartbeat_minutes} minutes)",
                     {"task": "coverage-check"}, "Every member account × Region: heard from lately, its role assumable",
                     retries=0, max_age_minutes=policy.organization.heartbeat_minutes, group=CHECKS_GROUP,
                     local_time=False),)


REMEDIATION_LEDGER = (Guardrails.decide, Guardrails.intend, Guardrails.record, Guardrails.mark_done,
                      Guardrails.record_outcome, Guardrails.decision, Guardrails.request, IncidentLedger.get_incident)

CAPABILITIES = (
    Capability(
        "triage",
        ledger=(IncidentLedger.read_alarm, IncidentLedger.apply, IncidentLedger.get_incident,
                IncidentLedger.count_refused_claim, IncidentLedger.page_refused_claims, IncidentLedger.page_settled,
                WindowLedger.held_back),
        rules=(Rule("AlarmStateChanges", DEFAULT_BUS, _constant(events.ALARM_STATE_CHANGE_PATTERN),
                    "Every CloudWatch alarm state change in this account and Region → triage"),
               Rule("RecheckAfterWindow", OPS_BUS, _constant(events.MAINTENANCE_ENDED_PATTERN),
                    "Maintenance window ended → triage re-checks the alarms it covered"),
               Rule("FindingsToTriage", OPS_BUS,
                    lambda policy, stack_name: events.findings_pattern(policy.organization.enabled),
                    "Backup and coverage check findings (virtual alarms) → triage"),
               Rule("MemberAlarmStateChanges", INTAKE_BUS, _constant(events.ALARM_STATE_CHANGE_PATTERN),
                    "Every CloudWatch alarm state change the member accounts' spokes forward → triage",
                    deployed=_organization),
               Rule("GuardDutyFindings", DEFAULT_BUS, _constant(events.GUARDDUTY_PATTERN),
                    "GuardDuty findings (virtual alarms: Security Breach P0, Security Threat P1) → triage"),
               Rule("SecurityHubFindings", DEFAULT_BUS, _constant(events.SECURITY_HUB_PATTERN),
                    "Security Hub CRITICAL and HIGH findings (virtual alarms, P0 and P1) → triage"),
               Rule("HealthEvents", DEFAULT_BUS, _constant(events.HEALTH_PATTERN),
                    "AWS Health issues and scheduled changes on this account's services (virtual alarms) → triage"),
               Rule("StackDrift", DEFAULT_BUS,
                    lambda policy, stack_name: events.drift_pattern(policy.drift.rule_name, list(policy.drift.stacks)),
                    "AWS Config's drift check of our stacks and the application's (P2 Configuration Drift) → triage",
                    deployed=lambda policy: policy.drift.enabled)),
        tasks=("flap-settled",)),
    Capability("outbox_relay", ledger=(Outbox.marks, Outbox.mark), pages=True),
    Capability(
        "waf_toggle",
        ledger=(*REMEDIATION_LEDGER, Guardrails.target_state, Guardrails.causing, Guardrails.ending),
        rules=(Rule("OnIncident", OPS_BUS, lambda policy, stack_name: events.waf_pattern(policy.waf),
                    "Traffic-spike incidents opened or resolved → WAF rate limiting"),
               Rule("OnDeploy", DEFAULT_BUS, lambda policy, stack_name: events.stack_status_pattern(stack_name),
                    "Our stack deployed → re-assert an active block a deploy reset")),
        tasks=("recovery-check", "outcome-check", "manual"), pages=True),
    Capability(
        "rollback",
        ledger=(*REMEDIATION_LEDGER, Guardrails.earlier_record, Guardrails.pass_on, DeploymentLedger.head,
                DeploymentLedger.previous_good, DeploymentLedger.quarantined, DeploymentLedger.record,
                DeploymentLedger.rollback_operations),
        rules=(Rule("OnIncident", OPS_BUS, lambda policy, stack_name: events.rollback_pattern(policy.rollback),
                    "Severe incidents on alarms mapped to a deployment target → rollback"),
               Rule("OnDeployment", OPS_BUS, _constant(events.DEPLOYMENT_PATTERN),
                    "Pipelines' Deployment Completed → the deployment ledger")),
        pages=True),
    Capability(
        "calendar",
        ledger=(WindowLedger.recorded_open, WindowLedger.record, WindowLedger.held_back, WindowLedger.open,
                WindowLedger.extend, WindowLedger.close, Runs.checklist_ran, Guardrails.decisions, Guardrails.controls,
                IncidentLedger.iter_incidents, BackupLedger.status),
        tasks=("window-end", "maintenance"), schedules=_calendar_schedules),
    Capability(
        "escalation", ledger=(IncidentLedger.get_incident, IncidentLedger.escalate),
        rules=(Rule("OnIncidentOpened", OPS_BUS, _constant(events.INCIDENT_OPENED_PATTERN),
                    "Every incident opened → its acknowledgement and resolution deadlines"),),
        tasks=("ack-deadline", "resolve-deadline")),
    Capability(
        "reporting",
        ledger=(IncidentLedger.iter_incidents, IncidentLedger.get_incident, WindowLedger.recorded_open, Runs.report_sent,
                Guardrails.decisions, BackupLedger.status, Baselines.write),
        rules=(Rule("OnChange", OPS_BUS, _constant(events.STATUS_PAGE_PATTERN),
                    "Incident and maintenance events → status page (and incident reports)"),),
        tasks=("status-page", "report"), schedules=_reporting_schedules),
    Capability(
        "backup_verify",
        ledger=(Guardrails.decide, Guardrails.intend, Guardrails.record, BackupLedger.write_status,
                BackupLedger.restore_validated, BackupLedger.last_validated, BackupLedger.restore_started,
                BackupLedger.started_by_us, IncidentLedger.alarm_states, IncidentLedger.count_refused_claim),
        rules=(Rule("OnBackupJobs", DEFAULT_BUS, _constant(events.BACKUP_JOB_PATTERN),
                    "AWS Backup and restore job state changes → backup verification"),
               Rule("MemberBackupJobs", INTAKE_BUS, _constant(events.MEMBER_BACKUP_JOB_PATTERN),
                    "The member accounts' backup job state changes, forwarded by their spokes → backup verification",
                    deployed=_organization),
               Rule("MemberBackupsDue", OPS_BUS, _constant(events.MEMBER_BACKUPS_DUE_PATTERN),
                    "The hourly verification's fan-out: one member account's backups each → backup verification",
                    deployed=_organization)),
        tasks=("verify", "cleanup", "test-restore", "restore-tests"), schedules=_backup_schedules),
    Capability(
        "pagerduty", ledger=(IncidentLedger.get_incident, IncidentLedger.record_pagerduty),
        rules=(Rule("OnIncident", OPS_BUS, _pagerduty_rule,
                    "Incidents of the severities PagerDuty owns → its Events API v2 (trigger, acknowledge, resolve)"),),
        deployed=_pagerduty_configured),
    Capability(
        "pagerduty_webhook", ledger=(IncidentLedger.acknowledge, IncidentLedger.get_incident, Webhooks.first_delivery),
        deployed=_pagerduty_configured),
    Capability("drill", ledger=(Runs.claim_drill, Runs.record_drill, Outbox.since, IncidentLedger.get_incident),
               tasks=("drill",), schedules=_drill_schedules),
    Capability(
        "coverage", ledger=(Coverage.heartbeat, Coverage.pairs, Coverage.checked, IncidentLedger.alarm_states),
        rules=(Rule("Heartbeats", INTAKE_BUS, _constant(events.HEARTBEAT_PATTERN),
                    "The spokes' heartbeats, one per member account × Region → coverage"),),
        schedules=_coverage_schedules, deployed=_organization),
)
BY_FUNCTION = {capability.function: capability for capability in CAPABILITIES}

# The SNS intake topic's Lambda subscription, and the function CloudWatch alarms may name as their
# action (its resource policy admits them).
SNS_INTAKE_FUNCTION = ALARM_ACTION_FUNCTION = "triage"


def capability(function: str) -> Capability:
    return BY_FUNCTION[function]


def deployed(policy: Policy) -> tuple[Capability, ...]:
    """The capabilities this config deploys (PagerDuty's only when a service is configured)."""
    return tuple(entry for entry in CAPABILITIES if entry.deployed(policy))


def functions(policy: Policy | None = None) -> tuple[str, ...]:
    """The functions this config deploys; every function there is, without one."""
    return tuple(sorted(entry.function for entry in (CAPABILITIES if policy is None else deployed(policy))))


def task_function(task: str, policy: Policy) -> str | None:
    """The function a scheduled task runs in (a standing schedule's task, or a follow-up's)."""
    for entry in deployed(policy):
        if task in entry.tasks or any(s.payload["task"] == task for s in entry.schedules(policy)):
            return entry.function
    return None


def routes(bus: str, policy: Policy, stack_name: str) -> tuple[tuple[str, dict[str, Any]], ...]:
    """(function, pattern) of every rule on `bus`."""
    return tuple((entry.function, rule.pattern(policy, stack_name))
                 for entry in deployed(policy) for rule in entry.rules if rule.bus == bus and rule.deployed(policy))


def forwarded_by_spokes(policy: Policy) -> dict[str, dict[str, Any]]:
    """Rule id → pattern of what each spoke forwards to the hub: what the intake bus's rules take."""
    return {rule.id: rule.pattern(policy, "") for entry in deployed(policy) for rule in entry.rules
            if rule.bus == INTAKE_BUS and rule.deployed(policy)}
