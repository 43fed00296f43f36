"""AWS's own findings as the runbook's alert categories: GuardDuty and Security Hub findings on the
default bus (written from tests/events/guardduty-finding.json and securityhub-findings-imported.json,
AWS's published examples) open incidents on virtual alarms — Security Breach P0, Security Threat P1 —
and so do account-specific AWS Health events (from tests/events/health-event.json), graded by the
service they affect; all are deduplicated, escalated and resolved like any alarm's. By any other
path they are claims."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from paths import ROOT

T0 = datetime(2026, 11, 26, 3, 0, tzinfo=timezone.utc)
EVENTS = ROOT / "tests" / "events"


def at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def guardduty(severity: float, updated: datetime = T0, *, archived: bool = False) -> dict[str, Any]:
    event = json.loads((EVENTS / "guardduty-finding.json").read_text())
    event["time"] = at(updated)
    event["detail"] |= {"severity": severity, "updatedAt": at(updated), "type": "UnauthorizedAccess:IAMUser/MaliciousIPCaller",
                        "title": "API called from a known malicious IP"}
    event["detail"]["service"]["archived"] = archived
    return event


def security_hub(label: str, workflow: str = "NEW", updated: datetime = T0) -> dict[str, Any]:
    event = json.loads((EVENTS / "securityhub-findings-imported.json").read_text())
    event["time"] = at(updated)
    [finding] = event["detail"]["findings"]
    finding |= {"Severity": {"Label": label, "Original": label}, "Workflow": {"Status": workflow}, "UpdatedAt": at(updated)}
    return event


@pytest.mark.parametrize(("score", "severity", "impact"), [
    (8.0, "P0", "Security Breach: unauthorized access detected"),
    (5.0, "P1", "Security Threat: suspicious activity detected"),
    (2.0, "P3", "Cosmetic issues, informational"),
])
def test_a_guardduty_finding_opens_an_incident_of_the_runbooks_severity(harness, score, severity, impact) -> None:
    [opened] = harness.triage(guardduty(score), T0 + timedelta(seconds=5))
    assert (opened["result"], opened["severity"]) == ("opened", severity)
    incident = harness.ledger.get_incident(opened["incident"])
    assert (incident["component"], incident["impact"], incident["classified_by"]) == (
        "GuardDuty", impact, "finding:GuardDuty")
    assert incident["alarm_name"].startswith("GuardDuty UnauthorizedAccess:IAMUser/MaliciousIPCaller ")
    [page] = harness.notifications(severity)
    assert "security-incident-response" in page["Message"] and "known malicious IP" in page["Message"]


def test_an_updated_finding_does_not_page_again_and_archiving_it_resolves_it(harness) -> None:
    [opened] = harness.triage(guardduty(8.0), T0)
    harness.notifications("P0")
    [again] = harness.triage(guardduty(8.0, T0 + timedelta(minutes=30)), T0 + timedelta(minutes=30))
    assert (again["result"], again["incident"]) == ("updated", opened["incident"])
    assert harness.notifications("P0") == []
    [resolved] = harness.triage(guardduty(8.0, T0 + timedelta(hours=2), archived=True), T0 + timedelta(hours=2))
    assert (resolved["result"], resolved["incident"]) == ("resolved", opened["incident"])


def test_a_security_hub_finding_opens_while_new_and_resolves_when_resolved(harness) -> None:
    [opened] = harness.triage(security_hub("CRITICAL"), T0)
    assert (opened["result"], opened["severity"]) == ("opened", "P0")
    assert harness.ledger.get_incident(opened["incident"])["component"] == "Security Hub"
    later = T0 + timedelta(hours=1)
    [resolved] = harness.triage(security_hub("CRITICAL", "RESOLVED", later), later)
    assert (resolved["result"], resolved["incident"]) == ("resolved", opened["incident"])


def test_a_finding_by_any_other_path_is_a_claim_and_rejected(harness) -> None:
    """An SNS message carrying a GuardDuty finding could come from anyone allowed to publish."""
    record = {"EventSource": "aws:sns", "Sns": {"Message": json.dumps(guardduty(8.0)), "MessageId": "m",
                                                "TopicArn": "arn:aws:sns:us-east-1:123456789012:x", "Timestamp": at(T0)}}
    [rejected] = harness.triage({"Records": [record]}, T0)
    assert rejected["result"] == "rejected" and harness.incidents() == []


def test_a_malformed_finding_is_rejected_with_its_reason(harness) -> None:
    event = guardduty(8.0)
    event["detail"]["severity"] = "high"
    [rejected] = harness.triage(event, T0)
    assert rejected["result"] == "rejected" and "severity is not a number" in rejected["reason"]
    hub = security_hub("CRITICAL")
    hub["detail"]["findings"] = []
    assert harness.triage(hub, T0)[0]["reason"] == "Security Hub event without findings"
    assert len(harness.dead_letters()) == 2


def health(service: str, category: str = "issue", status: str = "open", updated: str = "Thu, 26 Nov 2026 03:00:00 GMT",
           scope: str = "ACCOUNT_SPECIFIC") -> dict[str, Any]:
    event = json.loads((EVENTS / "health-event.json").read_text())
    event["time"] = "2026-11-26T03:00:05Z"
    event["detail"] |= {"service": service, "eventTypeCategory": category, "statusCode": status, "eventScopeCode": scope,
                        "eventTypeCode": f"AWS_{service}_OPERATIONAL_ISSUE", "lastUpdatedTime": updated,
                        "eventArn": f"arn:aws:health:us-east-1::event/{service}/x/{service}-1", "eventRegion": "us-east-1"}
    return event


@pytest.mark.parametrize(("service", "category", "severity"), [
    ("CLOUDFRONT", "issue", "P1"),  # the demo's alarms watch AWS/CloudFront
    ("LAMBDA", "issue", "P1"),  # the control plane runs on it
    ("EC2", "issue", "P2"),
    ("CLOUDFRONT", "scheduledChange", "P3"),
])
def test_an_aws_health_event_is_graded_by_the_service_it_affects(harness, service, category, severity) -> None:
    [opened] = harness.triage(health(service, category), T0 + timedelta(seconds=5))
    assert (opened["result"], opened["severity"]) == ("opened", severity)
    incident = harness.ledger.get_incident(opened["incident"])
    assert (incident["component"], incident["classified_by"]) == ("AWS Health", "aws-health")
    later = T0 + timedelta(hours=3)
    [closed] = harness.triage(health(service, category, "closed", "Thu, 26 Nov 2026 06:00:00 GMT"), later)
    assert (closed["result"], closed["incident"]) == ("resolved", opened["incident"])


def test_a_public_health_event_is_ignored(harness) -> None:
    [ignored] = harness.triage(health("EC2", scope="PUBLIC"), T0)
    assert ignored["result"] == "ignored" and harness.incidents() == []
