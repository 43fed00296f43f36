"""Which function each delivery reaches: the same patterns the stacks deploy (controlplane.events)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from controlplane.events import (
    ALARM_STATE_CHANGE_PATTERN,
    BACKUP_CHECK_PATTERN,
    BACKUP_JOB_PATTERN,
    DEPLOYMENT_PATTERN,
    INCIDENT_OPENED_PATTERN,
    MAINTENANCE_ENDED_PATTERN,
    STATUS_PAGE_PATTERN,
    rollback_pattern,
    stack_status_pattern,
    waf_pattern,
)
from controlplane.policy import Policy


@dataclass(frozen=True)
class Route:
    function: str
    pattern: dict[str, Any]


def intake_routes(stack_name: str) -> tuple[Route, ...]:
    """Default-bus rules (events delivered by AWS services)."""
    return (Route("triage", ALARM_STATE_CHANGE_PATTERN), Route("waf_toggle", stack_status_pattern(stack_name)),
            Route("backup_verify", BACKUP_JOB_PATTERN))


# The SNS intake topic's Lambda subscription.
SNS_INTAKE_FUNCTION = "triage"
# The function CloudWatch alarms may name as their action (its resource policy admits them).
ALARM_ACTION_FUNCTION = "triage"

# Scheduler payloads `{"task": …}` (EventBridge Scheduler delivers its Input verbatim) → function.
WAF_TASKS = ("compute-baseline", "recovery-check", "outcome-check", "manual")
CALENDAR_TASKS = ("window-end", "maintenance")
ESCALATION_TASKS = ("ack-deadline", "resolve-deadline")
REPORTING_TASKS = ("status-page", "report")
BACKUP_TASKS = ("verify", "cleanup", "test-restore", "restore-tests")
DRILL_TASK = "drill"


def scheduled_task_function(task: str, policy: Policy) -> str | None:
    """The function a scheduled task runs in: the WAF's own jobs, or the calendar's (its configured
    schedules, window ends and operator requests)."""
    if task in WAF_TASKS:
        return "waf_toggle"
    if task in CALENDAR_TASKS or task in policy.schedules:
        return "calendar"
    if task in ESCALATION_TASKS:
        return "escalation"
    if task in REPORTING_TASKS:
        return "reporting"
    if task in BACKUP_TASKS:
        return "backup_verify"
    if task == DRILL_TASK:
        return "drill"
    return None


def ops_bus_routes(policy: Policy) -> tuple[Route, ...]:
    """Ops-bus rules of the remediation capabilities (the stacks build theirs from the same calls)."""
    return (
        Route("waf_toggle", waf_pattern(policy.waf)),
        Route("rollback", rollback_pattern(policy.rollback)),
        Route("rollback", DEPLOYMENT_PATTERN),
        Route("triage", MAINTENANCE_ENDED_PATTERN),
        Route("escalation", INCIDENT_OPENED_PATTERN),
        Route("reporting", STATUS_PAGE_PATTERN),
        Route("triage", BACKUP_CHECK_PATTERN),
    )
