"""PagerDuty, both ways: our P0 incidents triggered, acknowledged and resolved through the Events API
v2 (against the local stand-in, which checks each event as PagerDuty documents it), and
acknowledgements made in PagerDuty coming back through signed v3 webhooks into the ledger."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from controlplane.events import INCIDENT_OPENED, pagerduty_secret_name
from factories import eventbridge_alarm
from faults import LambdaDied, crash_after
from opsctl import lambda_host
from opsctl.pagerduty_standin import stand_in
from paths import ROOT

OPENED = datetime(2026, 11, 26, 3, 0, tzinfo=timezone.utc)
HEALTH = "financeanalyst-pro-demo-health"  # P0, owned by PagerDuty in the demo config
ERROR_RATE = "financeanalyst-pro-demo-error-rate"  # P2: not PagerDuty's
SERVICE = "financeanalyst-emergency"
EVENTS = ROOT / "tests" / "events" / "pagerduty"


class PagerDuty:
    def __init__(self, harness) -> None:
        self.harness = harness
        self.key = harness.world.pagerduty_keys[SERVICE]
        [self.queue] = [url for function, url in harness.world.route_queues if function == "pagerduty"]

    def deliver(self, at: datetime) -> list[dict[str, Any]]:
        """What the deployed rule routes to the function since the last delivery, run in order."""
        from opsctl.world import drain

        notes = []
        for event in drain(self.harness.world.client("sqs"), self.queue):
            notes += self.run(event, at)
        return notes

    def run(self, event: dict[str, Any], at: datetime) -> list[dict[str, Any]]:
        self.harness.clock.set(at)
        result = lambda_host.invoke("pagerduty", event, self.harness.world.dependencies("pagerduty", self.harness.clock))
        return result["actions"] + result["checks"]

    def taken(self) -> list[tuple[str, str]]:
        return [(e["event_action"], e["dedup_key"]) for e in stand_in().taken[self.key]]

    def answered(self) -> list[int]:
        return stand_in().answered[self.key]

    def open(self, alarm: str = HEALTH, at: datetime = OPENED) -> str:
        [outcome] = self.harness.triage(eventbridge_alarm(alarm, "ALARM", at), at)
        return str(outcome["incident"])

    def resolve(self, alarm: str = HEALTH, at: datetime = OPENED + timedelta(minutes=30)) -> None:
        self.harness.triage(eventbridge_alarm(alarm, "OK", at, previous="ALARM"), at)

    def escalation(self) -> Any:
        lambda_host.load_handler("escalation")
        from escalation_service import EscalationService

        return EscalationService(self.harness.world.dependencies("escalation", self.harness.clock))

    def webhook(self, body: dict[str, Any], *, secrets: list[str] | None = None, at: datetime, method: str = "POST",
                signature: str | None = None) -> dict[str, Any]:
        """PagerDuty's delivery of `body` as the function URL hands it over (AWS's request shape),
        signed with `secrets` (the world's own by default), one v1 signature each."""
        raw = json.dumps(body)
        request = json.loads((EVENTS / "function-url-request.json").read_text())
        request["body"] = raw
        request["requestContext"]["http"]["method"] = method
        signed = secrets if secrets is not None else self.harness.world.pagerduty_signing_secrets
        request["headers"]["x-pagerduty-signature"] = signature if signature is not None else ",".join(
            f"v1={hmac.new(s.encode(), raw.encode(), hashlib.sha256).hexdigest()}" for s in signed)
        self.harness.clock.set(at)
        response = lambda_host.invoke("pagerduty_webhook", request,
                                      self.harness.world.dependencies("pagerduty_webhook", self.harness.clock))
        self.harness.relay()
        return {"status": response["statusCode"], **json.loads(response["body"])}


def acknowledged(incident: str, at: datetime, *, event_id: str = "01DEN1HGGPVZV4JEYUIRPGBZVO",
                 event_type: str = "incident.acknowledged") -> dict[str, Any]:
    body = json.loads((EVENTS / "webhook-incident-acknowledged.json").read_text())
    body["event"] |= {"id": event_id, "event_type": event_type, "occurred_at": at.isoformat().replace("+00:00", "Z")}
    body["event"]["data"]["incident_key"] = incident
    return body


@pytest.fixture
def pagerduty(harness) -> PagerDuty:
    return PagerDuty(harness)


def test_a_p0_incident_is_triggered_acknowledged_and_resolved_with_our_incident_id(pagerduty, harness) -> None:
    incident = pagerduty.open()
    [note] = pagerduty.deliver(OPENED + timedelta(seconds=5))
    assert (note["type"], note["result"]) == ("pagerduty.trigger", "executed")
    [trigger] = stand_in().taken[pagerduty.key]
    assert trigger["dedup_key"] == incident and trigger["routing_key"] == pagerduty.key
    payload = trigger["payload"]
    assert payload["severity"] == "critical" and payload["source"] == "Web Application"
    assert payload["summary"].startswith(f"[P0] {incident} {HEALTH}: Complete system outage")
    details = payload["custom_details"]
    assert details["Runbook"].endswith("#critical-alert-response") and details["Impact"] == "Complete system outage"
    assert trigger["links"] == [{"href": details["Runbook"], "text": "Runbook"}]

    pagerduty.escalation().acknowledge(incident, "alice")
    harness.relay()
    [note] = pagerduty.deliver(OPENED + timedelta(minutes=5))
    assert (note["type"], note["result"]) == ("pagerduty.acknowledge", "executed")
    pagerduty.resolve()
    pagerduty.deliver(OPENED + timedelta(minutes=31))
    assert pagerduty.taken() == [("trigger", incident), ("acknowledge", incident), ("resolve", incident)]
    record = harness.ledger.get_incident(incident)
    assert record["pagerduty"] == [f"{SERVICE}:trigger", f"{SERVICE}:acknowledge", f"{SERVICE}:resolve"]
    assert [e["action"] for e in record["timeline"] if e["event"] == "pagerduty"] == ["trigger", "acknowledge", "resolve"]


def test_only_the_severities_pagerduty_owns_reach_it(pagerduty) -> None:
    pagerduty.open(ERROR_RATE)
    assert pagerduty.deliver(OPENED + timedelta(seconds=5)) == []  # the rule does not route a P2
    assert pagerduty.taken() == []


def test_redelivered_late_and_out_of_order_events_send_nothing_twice(pagerduty, harness) -> None:
    incident = pagerduty.open()
    [opened] = [e for e in harness.ops_events() if e["detail-type"] == INCIDENT_OPENED]
    pagerduty.deliver(OPENED + timedelta(seconds=5))
    pagerduty.resolve()
    pagerduty.deliver(OPENED + timedelta(minutes=31))
    # The opening delivered again after the resolution: a trigger now would open a new PagerDuty incident.
    [note] = pagerduty.run(opened, OPENED + timedelta(minutes=40))
    assert (note["result"], note["reason"]) == ("skipped", "PagerDuty has everything of it (resolved)")
    assert pagerduty.taken() == [("trigger", incident), ("resolve", incident)]


def test_an_incident_resolved_before_pagerduty_heard_of_it_is_not_opened_there(pagerduty) -> None:
    pagerduty.open()
    pagerduty.resolve(at=OPENED + timedelta(seconds=30))
    notes = pagerduty.deliver(OPENED + timedelta(minutes=1))  # both events arrive late, together
    assert {note["reason"] for note in notes} == {"resolved before PagerDuty heard of it: nothing to open there"}
    assert pagerduty.taken() == []


def test_a_crash_after_the_send_sends_the_same_dedup_key_again(pagerduty, harness, monkeypatch) -> None:
    incident = pagerduty.open()
    [opened] = [e for e in harness.ops_events() if e["detail-type"] == INCIDENT_OPENED]
    lambda_host.load_handler("pagerduty")
    import events_v2

    crash_after(monkeypatch, events_v2, "post")
    with pytest.raises(LambdaDied):
        pagerduty.run(opened, OPENED + timedelta(seconds=5))
    monkeypatch.undo()
    pagerduty.run(opened, OPENED + timedelta(seconds=65))  # Lambda's retry
    # Sent twice, one key: PagerDuty folds the second into the first alert. Recorded once.
    assert pagerduty.taken() == [("trigger", incident), ("trigger", incident)]
    assert harness.ledger.get_incident(incident)["pagerduty"] == [f"{SERVICE}:trigger"]


def test_429_and_5xx_are_retried_with_backoff(pagerduty, harness) -> None:
    incident = pagerduty.open()
    stand_in().script(pagerduty.key, 429, 500, 0)  # throttled, failed, no answer at all
    [note] = pagerduty.deliver(OPENED + timedelta(seconds=5))
    assert note["result"] == "executed" and pagerduty.answered() == [429, 500, 0, 202]
    backoffs = harness.world.waits[-3:]
    assert len(backoffs) == 3 and all(0 <= wait <= 4 for wait in backoffs)
    assert harness.ledger.get_incident(incident)["pagerduty_triggered_at"]


def test_pagerduty_down_fails_the_invocation_and_our_escalation_keeps_going(pagerduty, harness) -> None:
    incident = pagerduty.open()
    [opened] = [e for e in harness.ops_events() if e["detail-type"] == INCIDENT_OPENED]
    stand_in().script(pagerduty.key, 503, 503, 503, 503)
    lambda_host.load_handler("pagerduty")
    from events_v2 import PagerDutyUnavailable

    with pytest.raises(PagerDutyUnavailable, match="503"):  # Lambda retries it, then parks it (the DLQ pages P1)
        pagerduty.run(opened, OPENED + timedelta(seconds=5))
    assert "pagerduty_triggered_at" not in harness.ledger.get_incident(incident)
    harness.empty_queues()
    harness.clock.set(OPENED + timedelta(minutes=16))
    escalated = pagerduty.escalation().ack_deadline(incident, 1)
    assert escalated["result"] == "executed"  # nobody in PagerDuty was told: we page up the matrix ourselves
    harness.relay()
    [page] = harness.notifications("P0")
    assert page["Subject"].startswith(f"[P0] ESCALATION L1: {incident}")


def test_a_400_is_never_retried_and_is_parked_with_pagerdutys_reason(pagerduty, harness) -> None:
    incident = pagerduty.open()
    harness.empty_queues()
    stand_in().script(pagerduty.key, 400)
    [note] = pagerduty.deliver(OPENED + timedelta(seconds=5))
    assert note["result"] == "failed" and "refused" in note["reason"]
    assert pagerduty.answered() == [400]  # one attempt
    [parked] = _drain_own_dead_letters(harness, "pagerduty")
    assert parked["incident"] == incident and "PagerDuty refused trigger" in parked["reason"]
    assert pagerduty.key not in json.dumps(parked)
    record = harness.ledger.get_incident(incident)
    assert record["pagerduty"] == [f"{SERVICE}:refused"] and "pagerduty_triggered_at" not in record
    # Refused once, refused for good: a later event of the incident does not knock again.
    pagerduty.resolve()
    pagerduty.deliver(OPENED + timedelta(minutes=31))
    assert pagerduty.answered() == [400]


def test_our_acknowledgement_escalation_stands_down_once_pagerduty_took_the_trigger(pagerduty, harness) -> None:
    incident = pagerduty.open()
    pagerduty.deliver(OPENED + timedelta(seconds=5))
    harness.empty_queues()
    harness.clock.set(OPENED + timedelta(minutes=16))
    note = pagerduty.escalation().ack_deadline(incident, 1)
    assert (note["result"], note["reason"].split(" (")[0]) == ("skipped", "PagerDuty escalates it")
    harness.relay()
    assert harness.all_notifications() == []


def test_the_routing_key_is_never_logged_and_an_unset_one_names_its_secret(pagerduty, harness, caplog) -> None:
    pagerduty.open()
    with caplog.at_level(logging.INFO):  # the deployed functions log at INFO (lambda_factory)
        notes = pagerduty.deliver(OPENED + timedelta(seconds=5))
    assert pagerduty.taken() and pagerduty.key not in caplog.text + json.dumps(notes)
    # Deployed, before the platform team put the key: the failure says which secret to fill.
    secret = pagerduty_secret_name("financeanalyst-pro-demo", SERVICE)
    harness.world.client("secretsmanager").put_secret_value(SecretId=secret, SecretString=json.dumps({"routing_key": ""}))
    harness.world.forget_container("pagerduty")
    pagerduty.open("checkout-outage")  # an alarm of outside the stacks, classified P0 by its name
    with pytest.raises(RuntimeError, match=f"is not set: put it in the secret {secret}"):
        pagerduty.deliver(OPENED + timedelta(seconds=10))


# --- webhooks ---------------------------------------------------------------------------------------

def test_an_acknowledgement_in_pagerduty_acknowledges_our_incident(pagerduty, harness) -> None:
    incident = pagerduty.open()
    pagerduty.deliver(OPENED + timedelta(seconds=5))
    at = OPENED + timedelta(minutes=4)
    reply = pagerduty.webhook(acknowledged(incident, at), at=at + timedelta(seconds=1))
    assert (reply["status"], reply["result"]) == (200, "executed")
    record = harness.ledger.get_incident(incident)
    assert (record["status"], record["acknowledged_by"]) == ("ACKNOWLEDGED", "PagerDuty: Tenex Engineer")
    # The acknowledgement is announced like any; PagerDuty is not told what it told us.
    assert pagerduty.deliver(at + timedelta(seconds=5))[0]["result"] == "skipped"
    assert pagerduty.taken() == [("trigger", incident)]
    harness.clock.set(OPENED + timedelta(minutes=16))
    assert pagerduty.escalation().ack_deadline(incident, 1)["result"] == "skipped"


def test_a_redelivered_webhook_is_taken_once(pagerduty, harness) -> None:
    incident = pagerduty.open()
    at = OPENED + timedelta(minutes=4)
    assert pagerduty.webhook(acknowledged(incident, at), at=at)["result"] == "executed"
    again = pagerduty.webhook(acknowledged(incident, at), at=at + timedelta(minutes=2))
    assert (again["status"], again["result"]) == (200, "duplicate")
    assert [e["event"] for e in harness.ledger.get_incident(incident)["timeline"]].count("acknowledged") == 1


def test_unsigned_wrongly_signed_tampered_and_stale_webhooks_change_nothing(pagerduty, harness) -> None:
    incident = pagerduty.open()
    at = OPENED + timedelta(minutes=4)
    body = acknowledged(incident, at)
    assert pagerduty.webhook(body, at=at, signature="")["status"] == 401
    assert pagerduty.webhook(body, at=at, secrets=["whsec-someone-elses"])["status"] == 401
    # Signed by PagerDuty, then changed on the way: the signature no longer matches.
    [ours] = harness.world.pagerduty_signing_secrets
    signature = "v1=" + hmac.new(ours.encode(), json.dumps(body).encode(), hashlib.sha256).hexdigest()
    tampered = copy.deepcopy(body)
    tampered["event"]["agent"]["summary"] = "Mallory"
    assert pagerduty.webhook(tampered, at=at, signature=signature)["status"] == 401
    # Genuine, but captured and sent again two hours later.
    stale = pagerduty.webhook(acknowledged(incident, at, event_id="OLD"), at=at + timedelta(hours=2))
    assert (stale["status"], stale["result"]) == (400, "rejected") and "outside the 60-minute window" in stale["reason"]
    assert pagerduty.webhook(body, at=at, method="GET")["status"] == 405
    assert harness.ledger.get_incident(incident)["status"] == "OPEN"
    assert pagerduty.webhook(body, at=at, signature=signature)["result"] == "executed"  # the untouched one


def test_every_secret_of_a_rotation_is_accepted(pagerduty, harness) -> None:
    incident = pagerduty.open()
    at = OPENED + timedelta(minutes=4)
    [ours] = harness.world.pagerduty_signing_secrets
    # PagerDuty mid-rotation signs with the new secret and the old (ours); we may hold both too.
    harness.world.client("secretsmanager").put_secret_value(
        SecretId="financeanalyst-pro-demo/pagerduty/webhook-signing",
        SecretString=json.dumps({"signing_secrets": ["whsec-new", ours]}))
    reply = pagerduty.webhook(acknowledged(incident, at), secrets=["whsec-other", ours], at=at)
    assert reply["result"] == "executed"
    second = pagerduty.open(ERROR_RATE, at=at)
    reply = pagerduty.webhook(acknowledged(second, at, event_id="NEW"), secrets=["whsec-new"], at=at)
    assert reply["result"] == "executed"


def test_webhooks_about_other_things_are_answered_and_ignored_with_the_reason(pagerduty, harness) -> None:
    incident = pagerduty.open()
    at = OPENED + timedelta(minutes=4)
    reply = pagerduty.webhook(acknowledged(incident, at, event_type="incident.priority_updated"), at=at)
    assert (reply["status"], reply["result"]) == (200, "ignored")
    reply = pagerduty.webhook(acknowledged("d3640fbd41094207a1c11e58e46b1662", at, event_id="X"), at=at)
    assert (reply["result"], reply["reason"]) == ("ignored", "PagerDuty incident PGR0VU2 was not opened by us")
    assert harness.ledger.get_incident(incident)["status"] == "OPEN"


def test_a_resolution_in_pagerduty_acknowledges_and_leaves_resolving_to_the_alarm(pagerduty, harness) -> None:
    incident = pagerduty.open()
    at = OPENED + timedelta(minutes=4)
    reply = pagerduty.webhook(acknowledged(incident, at, event_type="incident.resolved"), at=at)
    assert reply["result"] == "executed"
    record = harness.ledger.get_incident(incident)
    assert (record["status"], record["acknowledged_by"]) == ("ACKNOWLEDGED", "PagerDuty: Tenex Engineer (resolved in PagerDuty)")


def _drain_own_dead_letters(harness, function: str) -> list[dict[str, Any]]:
    from opsctl.world import drain

    return drain(harness.world.client("sqs"), harness.world.settings_of(function).rejects_queue_url)
