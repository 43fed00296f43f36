"""The runbook's Incident Report template, rendered for an SNS notification."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from alarm_parsing import AlarmTransition
from classification import Classification, section_for
from controlplane.policy import Policy
from controlplane.text import quoted, safe_text

__all__ = ["quoted", "render_blind_spot", "render_incident", "render_storm", "subject_line"]

SUBJECT_LIMIT = 100  # SNS rejects longer subjects
RUNBOOK_STATUS = {"OPEN": "Investigating", "ACKNOWLEDGED": "Identified", "RESOLVED": "Resolved"}


def console_link(transition: AlarmTransition) -> str:
    region = transition.region
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#alarmsV2:alarm/{quote(transition.alarm_name, safe='')}"
    )


def subject_line(text: str) -> str:
    """SNS subjects: printable ASCII, no line breaks, at most 100 characters."""
    ascii_only = "".join(c if " " <= c <= "~" else "?" for c in text)
    return ascii_only if len(ascii_only) <= SUBJECT_LIMIT else ascii_only[: SUBJECT_LIMIT - 3] + "..."


def _utc(moment: str | datetime) -> str:
    text = moment if isinstance(moment, str) else moment.isoformat()
    return text[:16].replace("T", " ") + " UTC"


def render_incident(
    kind: str,
    incident: dict[str, Any],
    transition: AlarmTransition,
    classification: Classification,
    policy: Policy,
    *,
    delayed: bool,
) -> tuple[str, str]:
    severity = incident["severity"]
    level = policy.severities[severity]
    status = RUNBOOK_STATUS[incident["status"]]
    subject = subject_line(f"[{severity}] {incident['id']} {kind}: {safe_text(transition.alarm_name, 80)}")
    runbook = f"{policy.runbook_url}#{classification.runbook_section}"
    lines = [
        "## Incident Report",
        "",
        f"**Incident ID:** {incident['id']}",
        f"**Severity:** {severity}",
        f"**Status:** {status}",
        f"**Start Time:** {_utc(incident['opened_at'])}",
        f"**Affected Systems:** {safe_text(incident['component'], 100)}",
        *([f"**Where:** {policy.organization.where(transition.account, transition.region)}"]
          if policy.organization.enabled else []),
        f"**Impact:** {incident['impact']}",
        "",
        "### Current Status",
        f"- Alarm {quoted(transition.alarm_name, 255)} is {transition.new_state} since {_utc(transition.changed_at)}",
        f"- Reason (CloudWatch's words): {quoted(transition.reason, 500) if transition.reason else 'not given'}",
        f"- Occurrences: {incident.get('occurrences', 1)}",
    ]
    if incident.get("resolved_at"):
        lines.append(f"- Resolved at {_utc(incident['resolved_at'])} after {incident['time_to_resolve_seconds']} s")
    if incident.get("previous_incident"):
        lines.append(f"- Re-opened: the same alarm resolved {incident['previous_incident']} shortly before (flapping?)")
    if delayed:
        lines.append("- This notice was delivered late; no automated action was taken on it.")
    lines += [
        "",
        "### Next Steps",
        f"- Respond within {level.response_minutes} minutes ({level.name}; escalation: {level.escalation})",
        f"- Follow the runbook: {runbook}",
    ]
    if classification.remediation:
        lines.append(f"- Remediation hint: {classification.remediation}")
    lines += ["", "### Links", f"- Alarm: {console_link(transition)}", f"- Classified by: {classification.decided_by}"]
    return subject, "\n".join(lines)


def render_blind_spot(transition: AlarmTransition, policy: Policy, open_incident: str | None) -> tuple[str, str]:
    subject = subject_line(f"[P3] Blind spot: {safe_text(transition.alarm_name, 60)} has INSUFFICIENT_DATA")
    lines = [
        "## Blind spot",
        "",
        f"Alarm {quoted(transition.alarm_name, 255)} went to INSUFFICIENT_DATA at {_utc(transition.changed_at)}:",
        "it can no longer see its metric, so a real problem would now go unnoticed.",
        f"- Reason (CloudWatch's words): {quoted(transition.reason, 500) if transition.reason else 'not given'}",
        f"- Open incident on this alarm: {open_incident or 'none'} (left open: no data is not recovery)",
        f"- Alarm: {console_link(transition)}",
        f"- Runbook: {policy.runbook_url}#monitoring--alerting",
    ]
    return subject, "\n".join(lines)


def render_storm(kind: str, parent: dict[str, Any], alarms: list[str], count: int, policy: Policy) -> tuple[str, str]:
    """A storm parent's page: how many alarms, which (the first ones, when there are many), what to do."""
    severity = parent["severity"]
    level = policy.severities[severity]
    subject = subject_line(f"[{severity}] {parent['id']} {kind}: {count} alarms on {safe_text(parent['component'], 40)}")
    listed = [f"- {quoted(name, 120)}" for name in alarms]
    if count > len(alarms):
        listed.append(f"- … and {count - len(alarms)} more (`opsctl incident show {parent['id']}`)")
    lines = [
        "## Incident Report",
        "",
        f"**Incident ID:** {parent['id']} (a storm: {count} incidents grouped)",
        f"**Severity:** {severity} (the highest of its incidents)",
        f"**Status:** {RUNBOOK_STATUS[parent['status']]}",
        f"**Start Time:** {_utc(parent['opened_at'])}",
        f"**Affected Systems:** {safe_text(parent['component'], 100)}",
        f"**Impact:** {parent['impact']}",
        "",
        "### Alarms",
        *listed,
        "",
        "### Next Steps",
        f"- Respond within {level.response_minutes} minutes ({level.name}; escalation: {level.escalation}): "
        "one cause is likely (a dependency, a deploy, the network)",
        f"- Acknowledge them all: `opsctl incident ack {parent['id']}`",
        f"- Follow the runbook: {policy.runbook_url}#{section_for(severity)}",
        f"- Further alarms join it quietly; updates at most every {policy.noise.update_interval_minutes} min, "
        "a higher severity at once; resolved when the last one clears",
    ]
    return subject, "\n".join(lines)
