"""AWS's own findings as the runbook's alert categories: GuardDuty and Security Hub findings on the
default bus (written from tests/events/guardduty-finding.json and securityhub-findings-imported.json,
AWS's published examples) open incidents on virtual alarms — Security Breach P0, Security Threat P1 —
and so do account-specific AWS Health events (from tests/events/health-event.json), graded by the
service they affect, and AWS Config's drift verdicts on our stacks (Configuration Drift P2, from
tests/events/config-rules-compliance-change.json); all are deduplicated, escalated and resolved
like any alarm's. By any other path they are claims."""

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


def test_a_scheduled_change_goes_on_the_calendar_of_the_morning_checklist(harness) -> None:
    """An upcoming RDS maintenance AWS announced: a P3 that says when, and the morning checklist's
    next 24 hours list it among the runbook's own tasks."""
    event = health("RDS", "scheduledChange", "upcoming")
    event["detail"] |= {"startTime": "Fri, 27 Nov 2026 08:00:00 GMT", "endTime": "Fri, 27 Nov 2026 10:00:00 GMT"}
    [opened] = harness.triage(event, T0 + timedelta(seconds=5))
    incident = harness.ledger.get_incident(opened["incident"])
    assert incident["scheduled_change"] == {"service": "RDS", "starts_at": "2026-11-27T08:00:00.000Z",
                                            "ends_at": "2026-11-27T10:00:00.000Z"}
    assert incident["impact"] == "AWS reports a scheduled change to RDS from 2026-11-27T08:00 UTC to 2026-11-27T10:00 UTC"
    harness.empty_queues()
    morning = datetime(2026, 11, 26, 14, 0, tzinfo=timezone.utc)  # 09:00 in New York, the day before
    harness.calendar({"task": "morning-checklist", "at": "2026-11-26T14:00:00Z"}, morning)
    [notice] = harness.notifications("P3")
    assert (f"Fri 03:00 EST AWS scheduled change to RDS until 2026-11-27T10:00 UTC ({opened['incident']})"
            in notice["Message"])


def test_a_public_health_event_is_ignored(harness) -> None:
    [ignored] = harness.triage(health("EC2", scope="PUBLIC"), T0)
    assert ignored["result"] == "ignored" and harness.incidents() == []


def drift_check(verdict: str, recorded: datetime = T0, stack: str = "financeanalyst-pro-web") -> dict[str, Any]:
    """AWS Config's verdict on one stack (tests/events/config-rules-compliance-change.json)."""
    event = json.loads((EVENTS / "config-rules-compliance-change.json").read_text())
    event["time"] = at(recorded + timedelta(seconds=1))
    stack_id = f"arn:aws:cloudformation:us-east-1:123456789012:stack/{stack}/5f4b9a10-cb37-11f0-a7a4-0affd1c2b3d5"
    event["detail"]["resourceId"] = stack_id
    event["detail"]["newEvaluationResult"] |= {"complianceType": verdict, "resultRecordedTime": at(recorded)}
    event["detail"]["newEvaluationResult"]["evaluationResultIdentifier"]["evaluationResultQualifier"]["resourceId"] = stack_id
    return event


def test_a_drifted_stack_is_a_p2_configuration_drift_until_it_is_in_sync_again(harness) -> None:
    [opened] = harness.triage(drift_check("NON_COMPLIANT"), T0 + timedelta(seconds=5))
    assert (opened["result"], opened["severity"]) == ("opened", "P2")
    incident = harness.ledger.get_incident(opened["incident"])
    assert (incident["alarm_name"], incident["component"], incident["classified_by"]) == (
        "drift financeanalyst-pro-web", "Configuration Drift", "aws-config")
    assert incident["impact"] == "Configuration Drift: stack financeanalyst-pro-web no longer matches its template"
    [page] = harness.notifications("P2")
    assert "1 resource(s) MODIFIED" in page["Message"] and "standard-alert-investigation" in page["Message"]
    [again] = harness.triage(drift_check("NON_COMPLIANT", T0 + timedelta(hours=6)), T0 + timedelta(hours=6, seconds=5))
    # Still drifted, told again (a redelivery): the same incident counts it and pages nobody.
    assert (again["result"], again["incident"]) == ("updated", opened["incident"]) and harness.notifications("P2") == []
    [closed] = harness.triage(drift_check("COMPLIANT", T0 + timedelta(hours=7)), T0 + timedelta(hours=7, seconds=5))
    assert (closed["result"], closed["incident"]) == ("resolved", opened["incident"])


def test_a_drift_check_that_could_not_run_is_a_blind_spot_and_no_verdict_is_ignored(harness) -> None:
    [blind] = harness.triage(drift_check("INSUFFICIENT_DATA"), T0)
    assert blind["result"] != "opened" and harness.incidents() == []
    [ignored] = harness.triage(drift_check("NOT_APPLICABLE", T0 + timedelta(minutes=1)), T0 + timedelta(minutes=1))
    assert ignored["result"] == "ignored" and "no verdict" in ignored["reason"]


def test_only_the_watched_stacks_drift_checks_reach_triage(harness, config) -> None:
    from moto.events.models import EventPattern

    from controlplane.policy import Policy
    from opsctl import deployment

    [pattern] = [rule.pattern for rule in deployment.deployed_rules(config, Policy(config.policy()))
                 if rule.pattern["source"] == ["aws.config"]]
    watched = EventPattern.load(json.dumps(pattern))

    def routed(stack: str) -> bool:
        return bool(watched.matches_event(drift_check("NON_COMPLIANT", stack=stack)))  # type: ignore[arg-type]

    assert routed("financeanalyst-pro-web") and routed("financeanalyst-pro-demo-control-plane")  # ours, always
    assert not routed("someone-elses-stack")
