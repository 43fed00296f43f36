"""The escalation matrix on an event-time clock: deadlines armed by "Incident Opened", pages up the
matrix when unacknowledged, cancelled by an acknowledgement, stopping at the configured level."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from controlplane.events import INCIDENT_OPENED
from factories import eventbridge_alarm
from faults import LambdaDied, crash_after
from opsctl import lambda_host

OPENED = datetime(2026, 11, 26, 3, 0, tzinfo=timezone.utc)
ERROR_RATE = "financeanalyst-pro-demo-error-rate"  # P2: Product Owner; 4 h to acknowledge


class Escalations:
    def __init__(self, harness) -> None:
        self.harness = harness

    def open_incident(self, at: datetime = OPENED, alarm: str = ERROR_RATE) -> str:
        [outcome] = self.harness.triage(eventbridge_alarm(alarm, "ALARM", at), at)
        [opened] = [e for e in self.harness.ops_events() if e["detail-type"] == INCIDENT_OPENED]
        self.run(opened, at + timedelta(seconds=2))
        self.harness.empty_queues()
        return str(outcome["incident"])

    def run(self, event: dict[str, Any], at: datetime) -> dict[str, Any]:
        self.harness.clock.set(at)
        result = lambda_host.invoke("escalation", event, self.harness.world.dependencies("escalation", self.harness.clock))
        self.harness.relay()
        return result

    def deadline(self, incident: str, level: int, at: datetime) -> dict[str, Any]:
        result = self.run({"task": "ack-deadline", "incident": incident, "level": level}, at)
        return (result["actions"] + result["checks"])[0]

    def pending(self) -> list[dict[str, Any]]:
        return self.harness.follow_ups()

    def schedules(self) -> dict[str, dict[str, Any]]:
        """Pending schedules by name, the due-time suffix of acknowledgement deadlines left off."""
        return {s["Name"].rsplit("-", 1)[0] if s["Name"].startswith("ack-") else s["Name"]: s for s in self.pending()}

    def ack_schedules(self) -> list[str]:
        return sorted(s["ScheduleExpression"] for s in self.pending() if s["Name"].startswith("ack-"))

    def service(self) -> Any:
        lambda_host.load_handler("escalation")
        from escalation_service import EscalationService

        return EscalationService(self.harness.world.dependencies("escalation", self.harness.clock))


@pytest.fixture
def escalations(harness) -> Escalations:
    return Escalations(harness)


def test_opening_arms_the_acknowledgement_deadline_and_the_resolution_target(escalations) -> None:
    incident = escalations.open_incident()
    schedules = escalations.schedules()
    assert schedules[f"ack-{incident}-1"]["ScheduleExpression"] == "at(2026-11-26T07:00:00)"  # P2: 4 hours
    assert json.loads(schedules[f"ack-{incident}-1"]["Target"]["Input"])["task"] == "ack-deadline"
    assert schedules[f"resolve-{incident}"]["ScheduleExpression"] == "at(2026-11-28T03:00:00)"  # 2880 min
    assert all(s["ActionAfterCompletion"] == "DELETE" for s in schedules.values())


def test_before_the_deadline_nothing_happens(escalations, harness) -> None:
    incident = escalations.open_incident()
    check = escalations.deadline(incident, 1, OPENED + timedelta(hours=3, minutes=59))
    assert (check["result"], check["reason"]) == ("skipped", "not due until 2026-11-26T07:00:00.000Z")
    assert harness.all_notifications() == []


def test_at_the_deadline_it_pages_the_next_level_and_rearms(escalations, harness) -> None:
    incident = escalations.open_incident()
    page = escalations.deadline(incident, 1, OPENED + timedelta(hours=4))
    assert (page["type"], page["result"]) == ("escalation.page", "executed")
    assert page["reason"] == "L1 → P1 (Tech Lead): unacknowledged 4 h 0 min after opening"
    [notice] = harness.notifications("P1")  # the Tech Lead's topic
    assert notice["Subject"] == f"[P1] ESCALATION L1: {incident} unacknowledged 4 h 0 min after opening"
    assert f"opsctl incident ack {incident}" in notice["Message"]
    stored = harness.ledger.get_incident(incident)
    assert (stored["escalation_level"], stored["escalated_to"]) == (1, "P1")
    assert stored["timeline"][-1]["event"] == "escalated" and stored["timeline"][-1]["to"] == "P1 (Tech Lead)"
    # Next level: one P1 response time (1 h) later.
    assert escalations.schedules()[f"ack-{incident}-2"]["ScheduleExpression"] == "at(2026-11-26T08:00:00)"


def test_a_late_deadline_still_escalates_once(escalations, harness) -> None:
    incident = escalations.open_incident()
    first = escalations.deadline(incident, 1, OPENED + timedelta(hours=6))
    again = escalations.deadline(incident, 1, OPENED + timedelta(hours=6, minutes=1))  # Scheduler redelivers
    assert first["result"] == "executed" and again["result"] == "skipped"
    assert len(harness.notifications("P1")) == 1


def test_levels_climb_the_matrix_and_stop(escalations, harness) -> None:
    incident = escalations.open_incident()
    at = OPENED + timedelta(hours=4)
    pages = [escalations.deadline(incident, 1, at)]
    pages.append(escalations.deadline(incident, 2, at + timedelta(hours=1)))  # P1's response time
    pages.append(escalations.deadline(incident, 3, at + timedelta(hours=1, minutes=15)))  # P0's
    assert [p["reason"].split(":")[0] for p in pages] == ["L1 → P1 (Tech Lead)", "L2 → P0 (Immediate)",
                                                         "L3 → P0 (Immediate)"]
    assert pages[-1]["reason"].endswith("; last level (3)")
    assert f"ack-{incident}-4" not in escalations.schedules()
    assert len(harness.notifications("P1")) == 1 and len(harness.notifications("P0")) == 2
    # Past its resolution target too: the last level is paged again, and the line says so.
    result = escalations.run({"task": "resolve-deadline", "incident": incident}, OPENED + timedelta(minutes=2880))
    assert result["actions"][0]["reason"] == ("L4 → P0 (Immediate): still OPEN past its resolution target (2880 min); "
                                              "past the last level (3): P0 paged again")


def test_an_unclassified_incident_escalates_no_higher_than_the_ceiling(escalations, harness) -> None:
    """An alarm nobody classified takes the default P2; unacknowledged it climbs to P1 (the configured
    `max_unclassified_severity`) and stops there: a storm of unknown alarms never reaches P0 (and
    security@) on its own, and the Tech Lead is paged for it once, not every hour."""
    incident = escalations.open_incident(alarm="someone-elses-queue-depth")
    assert harness.ledger.get_incident(incident)["classified_by"] == "default"
    at = OPENED + timedelta(hours=4)
    pages = [escalations.deadline(incident, 1, at),
             escalations.deadline(incident, 2, at + timedelta(hours=1))]  # P1's response time, as it stayed at P1
    assert [(p["result"], p["reason"]) for p in pages] == [
        ("executed", "L1 → P1 (Tech Lead): unacknowledged 4 h 0 min after opening"),
        ("skipped", "L2: P1 (its ceiling) was paged already; unclassified, so no higher than P1")]
    assert not any(name.startswith(f"ack-{incident}-3") for name in escalations.schedules())  # the chain ended
    # Past its resolution target it would climb again: the ceiling holds there too.
    resolution = escalations.run({"task": "resolve-deadline", "incident": incident}, OPENED + timedelta(days=3))
    assert (resolution["actions"] + resolution["checks"])[0]["result"] == "skipped"
    assert len(harness.notifications("P1")) == 1 and harness.notifications("P0") == []


def test_acknowledging_cancels_the_deadline(escalations, harness) -> None:
    incident = escalations.open_incident()
    harness.clock.set(OPENED + timedelta(minutes=20))
    acknowledged = escalations.service().acknowledge(incident, "alice")
    assert acknowledged["status"] == "ACKNOWLEDGED"
    assert f"ack-{incident}-1" not in escalations.schedules()
    # Had the schedule fired anyway (deleted too late), it finds the acknowledgement and stands down.
    check = escalations.deadline(incident, 1, OPENED + timedelta(hours=4))
    assert (check["result"], check["reason"]) == ("skipped", "acknowledged: nothing to escalate")
    assert harness.all_notifications() == []


def test_an_acknowledged_incident_open_past_its_resolution_target_re_escalates(escalations, harness) -> None:
    incident = escalations.open_incident()
    harness.clock.set(OPENED + timedelta(minutes=20))
    escalations.service().acknowledge(incident, "alice")
    # Re-triggers of an acknowledged incident never page.
    harness.triage(eventbridge_alarm(ERROR_RATE, "ALARM", OPENED + timedelta(hours=1)), OPENED + timedelta(hours=1))
    assert harness.notifications("P2") == []
    result = escalations.run({"task": "resolve-deadline", "incident": incident}, OPENED + timedelta(minutes=2880))
    [page] = result["actions"]
    assert page["reason"] == "L1 → P1 (Tech Lead): still ACKNOWLEDGED past its resolution target (2880 min)"
    assert len(harness.notifications("P1")) == 1
    again = escalations.run({"task": "resolve-deadline", "incident": incident}, OPENED + timedelta(minutes=2881))
    assert again["actions"] == [] and again["checks"][0]["result"] == "skipped"
    assert harness.all_notifications() == []


def test_a_resolved_incident_is_not_escalated(escalations, harness) -> None:
    incident = escalations.open_incident()
    harness.triage(eventbridge_alarm(ERROR_RATE, "OK", OPENED + timedelta(minutes=30)), OPENED + timedelta(minutes=30))
    harness.empty_queues()
    check = escalations.deadline(incident, 1, OPENED + timedelta(hours=4))
    assert check["reason"] == "resolved: nothing to escalate"
    resolution = escalations.run({"task": "resolve-deadline", "incident": incident}, OPENED + timedelta(days=2))
    assert resolution["actions"] == []
    assert harness.all_notifications() == []


def test_an_incident_whose_page_a_window_holds_back_is_deferred(escalations, harness) -> None:
    harness.calendar({"task": "maintenance", "action": "enable", "message": "m", "minutes": 600, "by": "alice"},
                     OPENED - timedelta(minutes=1))
    incident = escalations.open_incident()
    check = escalations.deadline(incident, 1, OPENED + timedelta(hours=4))
    assert check["result"] == "skipped" and "held back by maintenance window" in check["reason"]
    assert escalations.ack_schedules() == ["at(2026-11-26T07:00:00)", "at(2026-11-26T11:00:00)"]
    assert harness.all_notifications() == []


def test_an_incident_announced_without_deadlines_is_not_armed(escalations, harness) -> None:
    event = {"source": "ops.control-plane", "detail-type": INCIDENT_OPENED, "detail": {"incident_id": "INC-2025-001"}}
    result = escalations.run(event, OPENED)
    assert result["checks"][0]["reason"] == "the incident carries no deadlines" and escalations.pending() == []


def test_garbage_is_rejected_with_a_reason(harness) -> None:
    with pytest.raises(Exception, match="not an escalation trigger: task='nonsense'"):
        lambda_host.invoke("escalation", {"task": "nonsense"}, harness.world.dependencies("escalation", harness.clock))


def test_a_crash_after_an_escalation_does_not_end_the_chain(escalations, harness, monkeypatch) -> None:
    """Lambda dies right after the escalation's transaction: the next level was armed before it, so
    L2 still pages when its deadline comes (the redelivered L1 deadline finds L1 done)."""
    incident = escalations.open_incident()
    client = harness.world.dependencies("escalation", harness.clock).client("dynamodb")
    crash_after(monkeypatch, client, "transact_write_items")
    with pytest.raises(LambdaDied):
        escalations.deadline(incident, 1, OPENED + timedelta(hours=4))
    monkeypatch.undo()
    harness.relay()
    assert escalations.deadline(incident, 1, OPENED + timedelta(hours=4, minutes=1))["result"] == "skipped"
    assert f"ack-{incident}-2" in escalations.schedules()
    page = escalations.deadline(incident, 2, OPENED + timedelta(hours=5))
    assert (page["result"], page["reason"].split(":")[0]) == ("executed", "L2 → P0 (Immediate)")
    assert len(harness.notifications("P1")) == 1 and len(harness.notifications("P0")) == 1


def test_a_deadline_whose_previous_level_never_escalated_stands_down(escalations) -> None:
    incident = escalations.open_incident()
    skipped = escalations.deadline(incident, 3, OPENED + timedelta(hours=9))
    assert (skipped["result"], skipped["reason"]) == ("skipped", "level 2 was never escalated")


def test_a_deadline_with_milliseconds_fires_once_at_its_time(escalations, harness) -> None:
    """at() takes whole seconds: the deadline is rounded up, never down (down, it fired early, found
    nothing due, re-armed and fired again)."""
    incident = escalations.open_incident(OPENED + timedelta(milliseconds=250))
    [deadline] = [s for s in escalations.pending() if s["Name"].startswith(f"ack-{incident}-1-")]
    assert deadline["ScheduleExpression"] == "at(2026-11-26T07:00:01)"
    page = escalations.deadline(incident, 1, OPENED + timedelta(hours=4, seconds=1))
    assert (page["type"], page["result"]) == ("escalation.page", "executed")


def test_a_re_grade_moves_the_deadlines_and_pages_once(escalations, harness) -> None:
    """`opsctl incident severity INC-… P1`: the P1 deadlines from the opening, paged once at P1; the
    escalation follows the new deadline, the old one stands down; the resolution pages at P1."""
    incident = escalations.open_incident()  # P2: acknowledge within 4 h
    harness.clock.set(OPENED + timedelta(minutes=10))
    regraded = harness.ledger.regrade(incident, severity="P1", by="human:alice", reason="customers report checkout errors",
                                      at="2026-11-26T03:10:00.000Z", ops_bus=harness.world.settings.ops_bus_name,
                                      response_minutes=60, resolve_minutes=480)
    assert (regraded["severity"], regraded["ack_due_at"], regraded["resolve_due_at"]) == (
        "P1", "2026-11-26T04:00:00.000Z", "2026-11-26T11:00:00.000Z")
    assert regraded["timeline"][-1]["event"] == "regraded" and regraded["timeline"][-1]["from"] == "P2"
    escalations.service().regraded(regraded)
    harness.relay()
    [page] = harness.notifications("P1")
    assert page["Subject"] == f"[P1] {incident} Re-graded P2 → P1 by human:alice: {ERROR_RATE}"
    assert harness.notifications("P2") == []
    assert "at(2026-11-26T04:00:00)" in escalations.ack_schedules()
    # Re-grading to the same severity changes nothing, pages nothing.
    assert harness.ledger.regrade(incident, severity="P1", by="human:bob", reason="again", at="2026-11-26T03:11:00.000Z",
                                  ops_bus=harness.world.settings.ops_bus_name, response_minutes=60,
                                  resolve_minutes=480)["timeline"][-1]["by"] == "human:alice"
    page = escalations.deadline(incident, 1, OPENED + timedelta(hours=1))
    assert page["reason"] == "L1 → P0 (Immediate): unacknowledged 1 h 0 min after opening"
    assert escalations.deadline(incident, 1, OPENED + timedelta(hours=4))["result"] == "skipped"  # the P2 deadline
    # The old resolution target (P2's, later) stands down; the alarm's resolution pages at P1.
    early = escalations.run({"task": "resolve-deadline", "incident": incident}, OPENED + timedelta(hours=2))
    assert early["checks"][0]["reason"] == "not due until 2026-11-26T11:00:00.000Z"
    harness.all_notifications()
    harness.triage(eventbridge_alarm(ERROR_RATE, "OK", OPENED + timedelta(hours=3), previous="ALARM"),
                   OPENED + timedelta(hours=3))
    assert [n["Subject"][:4] for n in harness.notifications("P1")] == ["[P1]"]


def test_a_declared_incident_is_paged_escalated_and_resolved_like_any_other(escalations, harness) -> None:
    """`opsctl incident declare`: no alarm fired, a human saw it. It is numbered, announced and paged
    at the severity they gave, its deadlines armed; no remediation rule matches it; a human ends it."""
    lambda_host.load_handler("triage")
    from triage_service import declare

    harness.clock.set(OPENED)
    outcome = declare(severity="P1", component="Web Application", summary="logins fail for EU customers",
                      by="human:alice", deps=harness.world.dependencies("triage", harness.clock))
    assert (outcome.result, outcome.severity) == ("opened", "P1")
    harness.relay()
    [page] = harness.notifications("P1")
    assert page["Subject"].startswith(f"[P1] {outcome.incident} Opened: financeanalyst-pro-demo-declared-")
    [opened] = [e for e in harness.ops_events() if e["detail-type"] == INCIDENT_OPENED]
    assert opened["detail"]["remediation"] == "none" and opened["detail"]["component"] == "Web Application"
    escalations.run(opened, OPENED + timedelta(seconds=2))
    assert escalations.schedules()[f"ack-{outcome.incident}-1"]["ScheduleExpression"] == "at(2026-11-26T04:00:00)"
    [incident] = harness.incidents()
    assert (incident["classified_by"], incident["impact"]) == ("human:alice", "logins fail for EU customers")
    from controlplane.ledger import IncidentLedger

    IncidentLedger(harness.world.client("dynamodb"), harness.world.settings.ledger_table).resolve(
        str(outcome.incident), by="human:alice", reason="auth pool restarted", alarm_state=None,
        at="2026-11-26T03:40:00.000Z", ops_bus=harness.world.settings.ops_bus_name)
    harness.relay()
    [resolved] = harness.notifications("P1")
    assert resolved["Subject"].startswith(f"[P1] {outcome.incident} Resolved")
