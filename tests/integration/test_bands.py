"""Severity follows the signal: each band of an alarm is a CloudWatch alarm of its own
({alarm}-{severity}); when it fires, the alarm's open incident is upgraded (one page), and it never
opens a second incident for the same signal."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from controlplane.events import INCIDENT_OPENED
from factories import eventbridge_alarm

T0 = datetime(2026, 11, 26, 9, 14, 3, tzinfo=timezone.utc)
ERROR_RATE = "financeanalyst-pro-demo-error-rate"  # P2; its P1 band is above 10 %
BAND = f"{ERROR_RATE}-p1"


def test_a_rising_error_rate_upgrades_its_incident_once_and_stays_upgraded(harness, config) -> None:
    spec = config.alarm("error-rate")
    [opened] = harness.triage(eventbridge_alarm(ERROR_RATE, "ALARM", T0, value=6.0, description=spec.tagged_description), T0)
    assert (opened["result"], opened["severity"]) == ("opened", "P2")
    harness.empty_queues()
    later = T0 + timedelta(minutes=10)
    band = eventbridge_alarm(BAND, "ALARM", later, value=30.0)
    [upgraded] = harness.triage(band, later)
    assert (upgraded["result"], upgraded["incident"], upgraded["severity"]) == ("upgraded", opened["incident"], "P1")
    [page] = harness.notifications("P1")
    assert page["Subject"] == f"[P1] {opened['incident']} Upgraded to P1 (from P2): {ERROR_RATE}"
    [event] = harness.ops_events()
    assert (event["detail-type"], event["detail"]["severity"], event["detail"]["alarm_name"]) == (
        INCIDENT_OPENED, "P1", ERROR_RATE)  # escalation re-arms at P1's response time
    incident = harness.ledger.get_incident(opened["incident"])
    assert (incident["severity"], incident["upgraded_from"]) == ("P1", "P2")
    assert incident["ack_due_at"] == "2026-11-26T10:24:03.000Z"  # one hour (P1) after the upgrade

    assert harness.triage(band, later + timedelta(seconds=5))[0]["result"] == "duplicate"
    cleared = later + timedelta(minutes=5)
    [note] = harness.triage(eventbridge_alarm(BAND, "OK", cleared, previous="ALARM"), cleared)
    assert note["result"] == "recorded" and harness.all_notifications() == []
    assert harness.ledger.get_incident(opened["incident"])["severity"] == "P1"
    done = later + timedelta(minutes=20)
    [resolved] = harness.triage(eventbridge_alarm(ERROR_RATE, "OK", done, previous="ALARM"), done)
    assert (resolved["result"], resolved["severity"]) == ("resolved", "P1")
    assert [p["Subject"] for p in harness.notifications("P1")] == [
        f"[P1] {opened['incident']} Resolved: {ERROR_RATE}"]
    assert [e["event"] for e in harness.ledger.get_incident(opened["incident"])["timeline"]] == [
        "opened", "upgraded", "band", "resolved"]


def test_a_band_that_fires_first_opens_the_alarms_incident_and_the_alarm_joins_it(harness) -> None:
    [first] = harness.triage(eventbridge_alarm(BAND, "ALARM", T0, value=30.0), T0)
    assert (first["result"], first["severity"], first["alarm"]) == ("opened", "P1", ERROR_RATE)
    later = T0 + timedelta(seconds=40)
    [base] = harness.triage(eventbridge_alarm(ERROR_RATE, "ALARM", later, value=30.0), later)
    assert (base["result"], base["incident"]) == ("updated", first["incident"])
    assert len(harness.incidents()) == 1 and len(harness.all_notifications()) == 1


def test_a_band_below_the_incidents_severity_is_only_noted(harness) -> None:
    [opened] = harness.triage(eventbridge_alarm(ERROR_RATE, "ALARM", T0, value=12.0), T0)  # P1 from its datapoint
    assert opened["severity"] == "P1"
    harness.empty_queues()
    [note] = harness.triage(eventbridge_alarm(BAND, "ALARM", T0 + timedelta(minutes=1), value=12.0),
                            T0 + timedelta(minutes=1))
    assert note["result"] == "recorded" and harness.all_notifications() == [] and harness.ops_events() == []


def test_a_grouped_child_raised_by_its_band_raises_its_storm_parent_which_pages_once(harness, config) -> None:
    slow = config.alarm("response-time")
    harness.triage(eventbridge_alarm(slow.name, "ALARM", T0, value=2500.0, description=slow.tagged_description), T0)
    spec, second = config.alarm("error-rate"), T0 + timedelta(seconds=30)
    harness.triage(eventbridge_alarm(ERROR_RATE, "ALARM", second, value=6.0, description=spec.tagged_description), second)
    child, parent = "INC-2026-002", "INC-2026-003"  # both Web Application: one storm, at P2
    assert harness.ledger.get_incident(child)["parent"] == parent
    harness.empty_queues()
    later = T0 + timedelta(minutes=10)
    [upgraded] = harness.triage(eventbridge_alarm(BAND, "ALARM", later, value=30.0), later)
    assert (upgraded["result"], upgraded["incident"], upgraded["notified"]) == ("upgraded", child, "P1")
    [page] = harness.notifications("P1")  # the parent speaks; the child's own page is held back
    assert page["Subject"].startswith(f"[P1] {parent} Storm upgraded to P1")
    record = harness.ledger.get_incident(parent)
    assert (record["severity"], record["ack_due_at"]) == ("P1", "2026-11-26T10:24:03.000Z")
    assert record["timeline"][-1] | {"at": None} == {"at": None, "event": "child-upgraded", "incident": child, "severity": "P1"}
    assert harness.ledger.get_incident(child)["timeline"][-1]["event"] == "upgraded"
    [event] = harness.ops_events()  # escalation re-arms the parent at P1's response time
    assert (event["detail"]["parent"], event["detail"]["arm_parent"], event["detail"]["parent_severity"]) == (parent, True, "P1")


def test_a_child_upgraded_to_no_more_than_its_storm_is_held_back_on_its_timeline(harness, config) -> None:
    down = config.alarm("availability")  # P1, Web Application
    harness.triage(eventbridge_alarm(down.name, "ALARM", T0, value=98.0, description=down.tagged_description), T0)
    spec, second = config.alarm("error-rate"), T0 + timedelta(seconds=30)
    harness.triage(eventbridge_alarm(ERROR_RATE, "ALARM", second, value=6.0, description=spec.tagged_description), second)
    harness.empty_queues()
    later = T0 + timedelta(minutes=10)
    [upgraded] = harness.triage(eventbridge_alarm(BAND, "ALARM", later, value=30.0), later)
    assert upgraded["held_back_by"] == "storm grouping" and harness.all_notifications() == []
    assert harness.ledger.get_incident("INC-2026-003")["severity"] == "P1"  # the storm was P1 already
    assert harness.ledger.get_incident("INC-2026-002")["timeline"][-1]["event"] == "notification-grouped"
