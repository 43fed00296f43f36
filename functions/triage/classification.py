"""Severity P0–P3 for an alarm transition, from the compiled policy.

Order: the alarm's own severity (the tag our stacks write into its description, raised by the
configured bands when the triggering datapoint crosses them), then the configured rules on
name/namespace/metric, then the safe default. Alarms from outside the stacks are triaged too, but
their descriptions' tags are believed only where the config trusts that account (policy.trusts_tags)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from alarm_parsing import AlarmTransition
from controlplane.alarm_tags import parse_tags
from controlplane.policy import Policy


@dataclass(frozen=True)
class Classification:
    severity: str
    decided_by: str  # "alarm-tag", "config-alarm", "rule:<name>" or "default"
    remediation: str | None
    component: str
    impact: str
    runbook_section: str
    alarm_key: str | None = None


def classify(transition: AlarmTransition, policy: Policy) -> Classification:
    severities = policy.section("severities")
    rules = policy.section("classification")
    # By identity, not by name: another account's (or Region's) alarm with our name is not ours.
    configured = policy.section("alarms").get(transition.alarm_name) if policy.is_ours(transition.alarm_arn) else None
    tags = parse_tags(transition.description) if policy.trusts_tags(transition.alarm_arn, transition.account) else {}

    if configured is not None or tags.get("severity") in severities:
        spec: dict[str, Any] = dict(configured or {})
        severity = str(tags["severity"] if tags.get("severity") in severities else spec["severity"])
        severity = _raise_by_bands(severity, spec.get("bands", []), transition.datapoint)
        return Classification(
            severity=severity,
            decided_by="alarm-tag" if "severity" in tags else "config-alarm",
            remediation=tags.get("remediation") or spec.get("remediation"),
            component=spec.get("component") or _component_of(transition),
            impact=spec.get("impact") or severities[severity]["description"],
            runbook_section=tags.get("runbook") or spec.get("runbook_section") or _section_for(severity),
            alarm_key=spec.get("key"),
        )

    for rule in rules["rules"]:
        if _rule_matches(rule, transition):
            severity = rule["severity"]
            return Classification(
                severity=severity,
                decided_by=f"rule:{rule['name']}",
                remediation=rule.get("remediation"),
                component=rule.get("component") or _component_of(transition),
                impact=rule.get("impact") or severities[severity]["description"],
                runbook_section=rule.get("runbook_section") or _section_for(severity),
            )

    severity = rules["default_severity"]
    return Classification(
        severity=severity,
        decided_by="default",
        remediation=None,
        component=_component_of(transition),
        impact=severities[severity]["description"],
        runbook_section=_section_for(severity),
    )


def _raise_by_bands(severity: str, bands: list[dict[str, Any]], datapoint: float | None) -> str:
    """Bands only ever raise the severity (P1 beats P2): a datapoint can make it worse, not better."""
    if datapoint is None:
        return severity
    for band in bands:
        crossed = datapoint > band["above"] if "above" in band else datapoint < band["below"]
        if crossed and band["severity"] < severity:
            severity = band["severity"]
    return severity


def _rule_matches(rule: dict[str, Any], transition: AlarmTransition) -> bool:
    if "alarm_name" in rule and not re.search(rule["alarm_name"], transition.alarm_name):
        return False
    if "namespace" in rule and rule["namespace"] != transition.namespace:
        return False
    return "metric" not in rule or rule["metric"] == transition.metric_name


def _component_of(transition: AlarmTransition) -> str:
    if transition.composite:
        return "Composite alarm"
    return transition.namespace or "External alarm"


def _section_for(severity: str) -> str:
    return "critical-alert-response" if severity == "P0" else "standard-alert-investigation"
