"""Storm grouping under moto: 25 Lambda-errors alarms (one component, AWS/Lambda, classified P2 by
the lambda-errors rule) firing within a minute are one parent incident that pages once, updates at
most every noise.update_interval_minutes, escalates for all of them (no higher than P1, and that
level once), is acknowledged for all of them and resolves when the last one clears."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from controlplane.alarm_tags import format_tags
from controlplane.clock import isoformat
from controlplane.events import INCIDENT_OPENED
from factories import eventbridge_alarm
from opsctl import lambda_host

T0 = datetime(2026, 11, 26, 3, 0, tzinfo=timezone.utc)
LEADER, PARENT = "INC-2026-001", "INC-2026-003"  # the burst's first incident; the parent opened with the second


def lambda_alarm(n: int, state: str, at: datetime, severity: str | None = None) -> dict[str, Any]:
    """One function's errors alarm; with `severity`, one of our stacks' (whose tags are believed)."""
    name, description = f"service-{n:02d}-lambda-errors", ""
    if severity:
        name, description = f"financeanalyst-pro-demo-{name}", format_tags("Errors of one function", severity=severity)
    return eventbridge_alarm(name, state, at, namespace="AWS/Lambda", metric="Errors",
                             value=3.0 if state == "ALARM" else 0.0, threshold=1.0, description=description)


def storm(harness, count: int = 25, start: datetime = T0, severity: str | None = None) -> list[dict[str, Any]]:
    """`count` alarms two seconds apart (all of `severity`, if given)."""
    return [outcome for n in range(count)
            for outcome in harness.triage(lambda_alarm(n, "ALARM", start + timedelta(seconds=2 * n), severity),
                                          start + timedelta(seconds=2 * n))]


def escalate(harness, event: dict[str, Any], at: datetime) -> dict[str, Any]:
    harness.clock.set(at)
    result = lambda_host.invoke("escalation", event, harness.world.dependencies("escalation", harness.clock))
    harness.relay()
    return result


def outcome(result: dict[str, Any]) -> dict[str, Any]:
    """The escalation's one note: an action when it paged or armed, a check when it stood down."""
    [note] = result["actions"] + result["checks"]
    return note


def test_25_alarms_in_a_minute_are_one_parent_that_pages_once(harness) -> None:
    outcomes = storm(harness)
    assert [o["result"] for o in outcomes] == ["opened"] * 25
    pages = harness.notifications("P2")
    assert [p["Subject"] for p in pages] == [f"[P2] {LEADER} Opened: service-00-lambda-errors",
                                            f"[P2] {PARENT} Storm: 2 alarms on AWS/Lambda"]
    assert "service-00-lambda-errors" in pages[1]["Message"] and "service-01-lambda-errors" in pages[1]["Message"]
    assert f"opsctl incident ack {PARENT}" in pages[1]["Message"]
    assert harness.all_notifications() == []

    parent = harness.ledger.get_incident(PARENT)
    children = [i for i in harness.incidents() if i["id"] != PARENT]
    assert (parent["kind"], parent["severity"], parent["status"], parent["open_children"]) == ("storm", "P2", "OPEN", 25)
    assert parent["children"] == [i["id"] for i in sorted(children, key=lambda i: i["opened_at"])]
    assert len(parent["alarms"]) == 25 and parent["occurrences"] == 25
    assert [e["event"] for e in parent["timeline"]] == ["child-joined"] * 25
    assert {i["parent"] for i in children} == {PARENT}
    # Nothing dropped: from the third on, each child's own page is on its timeline, held back.
    for child in children[2:]:
        [held] = [e for e in child["timeline"] if e.get("held_back_by")]
        assert held["held_back_by"] == "storm grouping" and child["alarm_name"] in held["subject"]
    assert [o["held_back_by"] for o in outcomes] == [None, None] + ["storm grouping"] * 23

    opened = [e["detail"] for e in harness.ops_events() if e["detail-type"] == INCIDENT_OPENED]
    assert len(opened) == 25  # remediations still hear of every alarm
    assert [d.get("arm_parent") for d in opened[:3]] == [None, True, None]
    assert {d.get("parent") for d in opened[1:]} == {PARENT}


def test_an_update_pages_after_the_interval_and_a_higher_severity_at_once(harness) -> None:
    storm(harness, 3)
    harness.notifications("P2")
    later = T0 + timedelta(minutes=1)  # within the window of the last opening; the update is not due yet
    [quiet] = harness.triage(lambda_alarm(3, "ALARM", later), later)
    assert quiet["held_back_by"] == "storm grouping" and harness.all_notifications() == []
    [upgrade] = harness.triage(lambda_alarm(4, "ALARM", later + timedelta(seconds=30), severity="P1"),
                               later + timedelta(seconds=30))
    assert upgrade["notified"] == "P1"
    [page] = harness.notifications("P1")
    assert page["Subject"] == f"[P1] {PARENT} Storm upgraded to P1: 5 alarms on AWS/Lambda"
    parent = harness.ledger.get_incident(PARENT)
    assert parent["severity"] == "P1"
    assert parent["ack_due_at"] == "2026-11-26T04:01:30.000Z"  # P1's hour from the upgrade, not P2's four
    [announced] = [e["detail"] for e in harness.ops_events() if e["detail"]["alarm_name"].endswith("service-04-lambda-errors")]
    assert (announced["arm_parent"], announced["parent_ack_due_at"]) == (True, parent["ack_due_at"])
    # 15 min (noise.update_interval_minutes) after the last page, keeping within the 120 s window.
    at = later + timedelta(seconds=30)
    for n in range(5, 14):
        at += timedelta(seconds=100)
        harness.triage(lambda_alarm(n, "ALARM", at), at)
    assert [p["Subject"] for p in harness.notifications("P1")] == [
        f"[P1] {PARENT} Storm update: 14 alarms on AWS/Lambda"]


def test_an_alarm_after_the_window_starts_a_new_burst(harness) -> None:
    storm(harness, 2)
    later = T0 + timedelta(minutes=5)  # more than group_window_seconds (120) after the last opening
    [alone] = harness.triage(lambda_alarm(7, "ALARM", later), later)
    assert alone["result"] == "opened" and alone["notified"] == "P2"
    assert "parent" not in harness.ledger.get_incident(alone["incident"])


def test_the_parent_resolves_and_pages_when_its_last_child_clears(harness) -> None:
    storm(harness, 4)
    harness.notifications("P2")
    cleared = [harness.triage(lambda_alarm(n, "OK", T0 + timedelta(minutes=10 + n)), T0 + timedelta(minutes=10 + n))[0]
               for n in range(4)]
    assert [c["result"] for c in cleared] == ["resolved"] * 4
    assert [c["held_back_by"] for c in cleared] == ["storm grouping"] * 3 + [None]
    assert [p["Subject"] for p in harness.notifications("P2")] == [f"[P2] {PARENT} Storm over: 4 alarms on AWS/Lambda"]
    parent = harness.ledger.get_incident(PARENT)
    assert (parent["status"], parent["open_children"]) == ("RESOLVED", 0)
    assert [e["open_children"] for e in parent["timeline"] if e["event"] == "child-resolved"] == [3, 2, 1, 0]
    # The burst is over: the component's next alarm opens on its own.
    later = T0 + timedelta(minutes=15)
    [alone] = harness.triage(lambda_alarm(9, "ALARM", later), later)
    assert alone["notified"] == "P2" and "parent" not in harness.ledger.get_incident(alone["incident"])


def test_children_a_human_resolves_count_down_the_parent_like_clearing_alarms(harness) -> None:
    storm(harness, 3)  # children INC-2026-001, -002 and -004 under the parent INC-2026-003
    harness.notifications("P2")
    bus = harness.world.settings.ops_bus_name
    at = T0 + timedelta(minutes=20)
    harness.ledger.resolve("INC-2026-001", by="human:alice", reason="stale function", alarm_state="ALARM",
                           at=isoformat(at), ops_bus=bus)
    harness.relay()
    assert harness.ledger.get_incident(PARENT)["open_children"] == 2
    # One clears by itself, the last is closed by a human: the storm is over, and says so once.
    harness.triage(lambda_alarm(1, "OK", at + timedelta(minutes=1)), at + timedelta(minutes=1))
    harness.ledger.resolve("INC-2026-004", by="human:bob", reason="gone", alarm_state=None,
                           at=isoformat(at + timedelta(minutes=2)), ops_bus=bus)
    harness.relay()
    parent = harness.ledger.get_incident(PARENT)
    assert (parent["status"], parent["open_children"], parent["resolved_by"]) == ("RESOLVED", 0, "human:bob")
    assert [(e["incident"], e.get("by")) for e in parent["timeline"] if e["event"] == "child-resolved"] == [
        ("INC-2026-001", "human:alice"), ("INC-2026-002", None), ("INC-2026-004", "human:bob")]
    subjects = [p["Subject"] for p in harness.notifications("P2")]
    assert f"[P2] {PARENT} Storm over (resolved by human:bob): storm on AWS/Lambda" in subjects
    # The human-resolved child's alarm clearing later finds no incident to resolve and touches nothing.
    harness.triage(lambda_alarm(0, "OK", at + timedelta(minutes=5)), at + timedelta(minutes=5))
    assert harness.ledger.get_incident(PARENT)["open_children"] == 0


def test_the_parent_escalates_for_its_children_no_higher_than_p1_and_that_once(harness) -> None:
    storm(harness, 3)
    opened = [e for e in harness.ops_events() if e["detail-type"] == INCIDENT_OPENED]
    notes = [outcome(escalate(harness, event, T0 + timedelta(minutes=1))) for event in opened]
    assert [n["result"] for n in notes] == ["executed", "executed", "skipped"]  # the leader (before), the parent, a child
    armed = sorted(s["Name"] for s in harness.follow_ups() if s["Name"].startswith("ack-"))
    assert [name.rsplit("-", 1)[0] for name in armed] == [f"ack-{LEADER}-1", f"ack-{PARENT}-1"]
    # The leader's deadline finds it grouped and stands down; the parent's pages P1 (Tech Lead).
    four_hours = T0 + timedelta(hours=4, minutes=1)
    leader = escalate(harness, {"task": "ack-deadline", "incident": LEADER, "level": 1}, four_hours)
    assert outcome(leader)["result"] == "skipped" and "grouped under" in outcome(leader)["reason"]
    first = escalate(harness, {"task": "ack-deadline", "incident": PARENT, "level": 1}, four_hours)
    assert outcome(first)["result"] == "executed"
    assert [p["Subject"][:35] for p in harness.notifications("P1")] == [f"[P1] ESCALATION L1: {PARENT} un"]
    second = escalate(harness, {"task": "ack-deadline", "incident": PARENT, "level": 2}, four_hours + timedelta(hours=1))
    assert outcome(second)["result"] == "skipped" and "P1 (its ceiling) was paged already" in outcome(second)["reason"]
    assert harness.notifications("P1") == [] and harness.notifications("P0") == []


def test_acknowledging_the_parent_acknowledges_its_children_and_those_to_come(harness) -> None:
    storm(harness, 3)
    lambda_host.load_handler("escalation")
    from escalation_service import EscalationService

    harness.clock.set(T0 + timedelta(minutes=1))
    EscalationService(harness.world.dependencies("escalation", harness.clock)).acknowledge(PARENT, "alice")
    statuses = {i["id"]: (i["status"], i.get("acknowledged_by")) for i in harness.incidents()}
    assert statuses[PARENT] == ("ACKNOWLEDGED", "alice")
    assert {statuses[c] for c in harness.ledger.get_incident(PARENT)["children"]} == {
        ("ACKNOWLEDGED", f"alice (with {PARENT})")}
    later = T0 + timedelta(minutes=1, seconds=30)
    [joined] = harness.triage(lambda_alarm(5, "ALARM", later), later)
    assert harness.ledger.get_incident(joined["incident"])["status"] == "ACKNOWLEDGED"


def test_the_status_page_shows_one_entry_for_a_storm(harness) -> None:
    from controlplane.policy import Policy

    lambda_host.load_handler("reporting")
    from status_page import compute_status

    storm(harness, 5, severity="P1")  # P0 and P1 are public
    shown = compute_status(harness.incidents(), [], Policy(harness.world.policy), T0 + timedelta(minutes=30))
    assert [(i["severity"], i["component"]) for i in shown["incidents"]] == [("P1", "Other services")]


@pytest.mark.parametrize("window", [0])
def test_grouping_can_be_turned_off(harness, window) -> None:
    harness.use_policy(lambda policy: policy["noise"].update(group_window_seconds=window))
    storm(harness, 3)
    assert len(harness.incidents()) == 3 and len(harness.notifications("P2")) == 3


def test_two_alarms_opening_at_once_make_one_burst(harness, monkeypatch) -> None:
    """Both read the component's burst before either writes: the loser's transaction is refused on
    the burst's version, it reads again and groups with the winner (one parent, never two leaders)."""
    storm(harness, 1)
    harness.losing_the_race_to(monkeypatch, lambda_alarm(2, "ALARM", T0 + timedelta(seconds=4)), T0 + timedelta(seconds=4))
    [late] = harness.triage(lambda_alarm(1, "ALARM", T0 + timedelta(seconds=3)), T0 + timedelta(seconds=3))
    parents = [i for i in harness.incidents() if i.get("kind") == "storm"]
    assert len(parents) == 1 and parents[0]["open_children"] == 3
    assert late["held_back_by"] == "storm grouping"
    assert len([p for p in harness.notifications("P2") if "Storm" in p["Subject"]]) == 1


def test_a_storm_past_the_parents_capacity_goes_on_in_a_new_parent(harness, monkeypatch) -> None:
    """A parent lists its children on its own item (DynamoDB's 400 KB): past MAX_CHILDREN the next
    incident starts a new burst, paged as any first one, and the one after it a new parent."""
    lambda_host.load_handler("triage")
    import storms

    monkeypatch.setattr(storms, "MAX_CHILDREN", 3)
    outcomes = storm(harness, 5)
    parents = [i for i in harness.incidents() if i.get("kind") == "storm"]
    assert sorted(p["occurrences"] for p in parents) == [2, 3]
    assert [o["notified"] for o in outcomes] == ["P2", "P2", None, "P2", "P2"]


def test_more_than_the_threshold_across_components_join_one_account_wide_parent(harness) -> None:
    """noise.storm_threshold (3 here): the first three incidents of different components page on
    their own; the fourth opens an account-wide parent naming the latest alarms; the fifth joins it."""
    harness.use_policy(lambda policy: policy["noise"].update(storm_threshold=3))
    outcomes = [harness.triage(eventbridge_alarm(f"queue-{n}-depth", "ALARM", T0 + timedelta(seconds=10 * n),
                                                 namespace=f"Custom/Queue{n}", metric="Depth", value=9.0, threshold=1.0),
                               T0 + timedelta(seconds=10 * n))[0] for n in range(5)]
    assert [o["notified"] for o in outcomes] == ["P2", "P2", "P2", "P2", None]
    [parent] = [i for i in harness.incidents() if i.get("kind") == "storm"]
    assert (parent["component"], parent["open_children"], parent["children"]) == (
        "several components", 2, [outcomes[3]["incident"], outcomes[4]["incident"]])
    page = harness.notifications("P2")[-1]
    assert page["Subject"] == f"[P2] {parent['id']} Storm: 4 alarms on several components"
    assert all(f"queue-{n}-depth" in page["Message"] for n in range(4))
    assert outcomes[4]["held_back_by"] == "storm grouping"
