"""Severity P0–P3 for an alarm transition, from the compiled policy.

Order: the alarm's own severity (the tag our stacks write into its description, raised by the
configured bands when the triggering datapoint crosses them), then the configured rules on
name/namespace/metric, then the safe default. Alarms from outside the stacks are triaged too, but
their descriptions' tags are believed only where the config trusts that account (policy.trusts_tags)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from alarm_parsing import AlarmTransition
from controlplane.alarm_tags import parse_tags
from controlplane.events import COVERAGE_COMPONENT, DRIFT_COMPONENT, HEALTH_COMPONENT
from controlplane.policy import Band, ClassificationRule, Policy


@dataclass(frozen=True)
class Classification:
    severity: str
    decided_by: str  # "alarm-tag", "config-alarm", "rule:<name>" or "default"
    remediation: str | None
    component: str
    impact: str
    runbook_section: str
    alarm_key: str | None = None
    # An AWS Health scheduled change: {"service", "starts_at", "ends_at"?}, kept on the incident so the
    # checklists put it on the calendar.
    scheduled_change: dict[str, str] | None = None


# The runbook's alert categories for security findings, by the severity they take.
FINDING_CATEGORIES = {"P0": "Security Breach: unauthorized access detected",
                      "P1": "Security Threat: suspicious activity detected"}


def classify(transition: AlarmTransition, policy: Policy) -> Classification:
    severities = policy.severities
    if transition.finding_severity is not None:
        # AWS's own finding, graded by the runbook's rule for its source (alarm_parsing): no config
        # rule or tag can lower it.
        severity = transition.finding_severity
        return Classification(
            severity=severity, decided_by=f"finding:{transition.namespace}", remediation=None,
            component=str(transition.namespace),
            impact=FINDING_CATEGORIES.get(severity, severities[severity].description),
            runbook_section="security-incident-response")
    if transition.namespace == HEALTH_COMPONENT and transition.path == "eventbridge":
        # A scheduled change is a P3 to plan for; an issue with a service we run on is P1, others P2.
        service, category = transition.dimensions.get("Service"), transition.dimensions.get("Category")
        if category == "scheduledChange":
            starts, ends = transition.dimensions.get("Starts", ""), transition.dimensions.get("Ends")
            return Classification(
                severity="P3", decided_by="aws-health", remediation=None, component=HEALTH_COMPONENT,
                impact=f"AWS reports a scheduled change to {service} from {starts[:16]} UTC"
                       + (f" to {ends[:16]} UTC" if ends else ""),
                runbook_section=section_for("P3"),
                scheduled_change={"service": str(service), "starts_at": starts, **({"ends_at": ends} if ends else {})})
        severity = "P1" if service in policy.health_services else "P2"
        return Classification(
            severity=severity, decided_by="aws-health", remediation=None, component=HEALTH_COMPONENT,
            impact=f"AWS reports an issue with {service}", runbook_section=section_for(severity))
    if transition.namespace == DRIFT_COMPONENT and transition.path == "eventbridge":
        # The runbook's Configuration Drift: a stack no longer matches its template (someone changed
        # a resource by hand, or a deploy half failed). P2: look within 4 hours, redeploy or adopt.
        return Classification(
            severity="P2", decided_by="aws-config", remediation=None, component=DRIFT_COMPONENT,
            impact=f"Configuration Drift: stack {transition.dimensions.get('Stack')} no longer matches its template",
            runbook_section=section_for("P2"))
    if transition.path == "backup-check" and transition.metric_name == "integrity" and transition.new_state == "ALARM":
        # The runbook's Data Loss (P0, user data corruption): a restore test's copy does not hold
        # its source's data, so a recovery would lose it. The check's own tags say P0 too.
        return Classification(
            severity="P0", decided_by="backup-check", remediation="verify-backups", component=str(transition.namespace),
            impact=f"Data Loss: a restore of {transition.dimensions.get('Resource')} does not hold its source's data",
            runbook_section="backup--recovery")
    if transition.path == "coverage-check":
        # A member account × Region the hub cannot see: whatever happens there, nobody is told.
        return Classification(
            severity="P1", decided_by="coverage-check", remediation=None, component=COVERAGE_COMPONENT,
            impact=f"Blind spot: account {policy.organization.where(transition.account, transition.region)} is not watched",
            runbook_section=section_for("P1"))
    # By identity, not by name: another account's (or Region's) alarm with our name is not ours.
    configured = policy.alarms.get(transition.alarm_name) if policy.is_ours(transition.alarm_arn) else None
    tags = parse_tags(transition.description) if policy.trusts_tags(transition.alarm_arn, transition.account) else {}
    tagged = tags.get("severity") if tags.get("severity") in severities else None

    if configured is not None or tagged is not None:
        severity = tagged or (configured.severity if configured else policy.classification.default_severity)
        severity = _raise_by_bands(severity, configured.bands if configured else (), transition.datapoint)
        return Classification(
            severity=severity,
            decided_by="alarm-tag" if "severity" in tags else "config-alarm",
            remediation=tags.get("remediation") or (configured.remediation if configured else None),
            component=(configured.component if configured else None) or _component_of(transition, policy),
            impact=(configured.impact if configured else None) or severities[severity].description,
            runbook_section=tags.get("runbook") or (configured.runbook_section if configured else None)
            or section_for(severity),
            alarm_key=configured.key if configured else None,
        )

    for rule in policy.classification.rules:
        if _rule_matches(rule, transition):
            return Classification(
                severity=rule.severity,
                decided_by=f"rule:{rule.name}",
                remediation=rule.remediation,
                component=rule.component or _component_of(transition, policy),
                impact=rule.impact or severities[rule.severity].description,
                runbook_section=rule.runbook_section or section_for(rule.severity),
            )

    severity = policy.classification.default_severity
    return Classification(
        severity=severity,
        decided_by="default",
        remediation=None,
        component=_component_of(transition, policy),
        impact=severities[severity].description,
        runbook_section=section_for(severity),
    )


def _raise_by_bands(severity: str, bands: tuple[Band, ...], datapoint: float | None) -> str:
    """Bands only ever raise the severity (P1 beats P2): a datapoint can make it worse, not better."""
    if datapoint is None:
        return severity
    for band in bands:
        crossed = datapoint > band.above if band.above is not None else band.below is not None and datapoint < band.below
        if crossed and band.severity < severity:
            severity = band.severity
    return severity


def _rule_matches(rule: ClassificationRule, transition: AlarmTransition) -> bool:
    if rule.alarm_name is not None and not re.search(rule.alarm_name, transition.alarm_name):
        return False
    if rule.namespace is not None and rule.namespace != transition.namespace:
        return False
    return rule.metric is None or rule.metric == transition.metric_name


def _component_of(transition: AlarmTransition, policy: Policy) -> str:
    """A component for an alarm the config does not name: what it watches, and, for a member
    account's alarm, whose it is (two accounts' Lambda errors are two applications, not one storm)."""
    component = "Composite alarm" if transition.composite else transition.namespace or "External alarm"
    name = policy.organization.accounts.get(transition.account)
    return f"{component} ({name})" if name else component


def section_for(severity: str) -> str:
    """The runbook section an incident of `severity` is worked from, unless its alarm names one."""
    return "critical-alert-response" if severity == "P0" else "standard-alert-investigation"
