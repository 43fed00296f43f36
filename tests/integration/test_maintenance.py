"""The maintenance calendar under moto: windows held back pages (P0 through), paused automation,
expired by themselves, re-checked their alarms at the end; checklists ran once."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from integration.test_rollback import DEPLOYED, incident, targets  # noqa: F401 - fixture
from integration.test_waf import baseline, ops_event  # noqa: F401 - fixture
from integration.test_waf import waf as waf_acl  # noqa: F401 - fixture

from controlplane.clock import parse_timestamp
from controlplane.events import INCIDENT_OPENED, MAINTENANCE_ENDED
from controlplane.ledger import from_item
from factories import eventbridge_alarm

OPENS = datetime(2026, 11, 25, 19, 0, tzinfo=timezone.utc)  # Wednesday 14:00 in New York
ENDS = OPENS + timedelta(minutes=120)
WINDOW = "database-maintenance-20261125-1400"
PREFIX = "financeanalyst-pro-demo"
STORAGE = f"{PREFIX}-storage"
STORAGE_METRIC = {"namespace": "FinanceAnalystPro/Capacity", "metric": "StorageUsedPercent",
                  "dimensions": {"Service": "api"}, "threshold": 80.0}


def storage(state: str, at: datetime, value: float = 85.0) -> dict[str, Any]:
    return eventbridge_alarm(STORAGE, state, at, value=value, previous="OK" if state == "ALARM" else "ALARM",
                             **STORAGE_METRIC)


def deliver(harness, event: dict[str, Any]) -> list[dict[str, Any]]:
    """Triage an alarm event when EventBridge delivers it (processing time = delivery time)."""
    return harness.triage(event, parse_timestamp(event["time"]))


def open_db_window(harness) -> list[dict[str, Any]]:
    actions = harness.calendar({"task": "database-maintenance", "at": "2026-11-25T19:00:00Z"}, OPENS)
    harness.empty_queues()
    return actions


def enable(harness, at: datetime, minutes: int = 30, **scope: list[str]) -> str:
    [action] = harness.calendar({"task": "maintenance", "action": "enable", "message": "Emergency maintenance",
                                 "minutes": minutes, "by": "alice", **scope}, at)
    harness.empty_queues()
    return str(action["target"])


def end(harness, window: str, at: datetime) -> list[dict[str, Any]]:
    """The window's end schedule fires; the relay announces it; the ops-bus rule hands the
    "Maintenance Window Ended" event to triage, which re-checks."""
    actions = harness.calendar({"task": "window-end", "window": window}, at)
    for event in harness.ops_events():
        if event["detail-type"] == MAINTENANCE_ENDED:
            actions += harness.triage(event)
    return actions


def set_alarm(harness, name: str, state: str) -> None:
    harness.world.client("cloudwatch").set_alarm_state(AlarmName=name, StateValue=state, StateReason="test")


def items(harness, prefix: str) -> list[dict[str, Any]]:
    rows = harness.world.client("dynamodb").scan(TableName=harness.world.settings.ledger_table)["Items"]
    return [from_item(r) for r in rows if r["pk"]["S"].startswith(prefix)]


def test_a_scheduled_window_opens_once_announces_and_schedules_its_end(harness) -> None:
    actions = harness.calendar({"task": "database-maintenance", "at": "2026-11-25T19:00:00Z"}, OPENS)
    assert [(a["type"], a["result"]) for a in actions] == [("maintenance.open", "executed"),
                                                           ("checklist.database-maintenance", "executed")]
    notices = harness.notifications("P3")
    assert sorted(n["Subject"] for n in notices) == [
        "[Maintenance] database-maintenance-20261125-1400 started, until Wed 25 Nov 16:00 EST",
        "[P3] Wednesday 2:00 PM - Database Maintenance"]
    [record] = items(harness, "WINDOW#")
    assert (record["status"], record["ends_at"], record["components"]) == ("OPEN", "2026-11-25T21:00:00.000Z",
                                                                            ["Data storage"])
    [schedule] = harness.follow_ups()
    assert schedule["ScheduleExpression"] == "at(2026-11-25T21:00:00)"
    assert json.loads(schedule["Target"]["Input"]) == {"task": "window-end", "window": WINDOW,
                                                       "at": "2026-11-25T21:00:00.000Z"}
    assert schedule["Target"]["RetryPolicy"]["MaximumRetryAttempts"] >= 1

    again = harness.calendar({"task": "database-maintenance", "at": "2026-11-25T19:00:00Z"}, OPENS + timedelta(minutes=2))
    assert [a["result"] for a in again] == ["skipped", "skipped"]
    assert harness.notifications("P3") == []


def test_a_window_delivered_after_its_end_is_not_opened(harness) -> None:
    [opened, _checklist] = harness.calendar({"task": "database-maintenance", "at": "2026-11-25T19:00:00Z"},
                                            ENDS + timedelta(minutes=1))
    assert (opened["result"], opened["reason"]) == ("skipped", "delivered after the window's end")
    assert items(harness, "WINDOW#") == []


def test_in_scope_pages_are_held_back_and_recorded_outside_scope_they_page(harness) -> None:
    open_db_window(harness)
    [held] = deliver(harness, storage("ALARM", OPENS + timedelta(minutes=5)))
    assert (held["result"], held["suppressed_by"], held["notified"]) == ("opened", WINDOW, None)
    assert harness.notifications("P2") == []
    [event] = harness.ops_events()  # remediations still hear of it: the guardrails pause them
    assert event["detail-type"] == INCIDENT_OPENED
    incident_ = harness.ledger.get_incident(held["incident"])
    assert incident_["suppressed_by"] == WINDOW
    assert [e["event"] for e in incident_["timeline"]] == ["opened", "notification-suppressed"]
    [suppressed] = items(harness, f"SUPPRESSED#{WINDOW}")
    assert (suppressed["incident"], suppressed["severity"]) == (held["incident"], "P2")

    [paged] = deliver(harness, eventbridge_alarm(f"{PREFIX}-error-rate", "ALARM", OPENS + timedelta(minutes=6)))
    assert (paged["result"], paged["suppressed_by"]) == ("opened", None)
    assert len(harness.notifications("P2")) == 1


def test_p0_in_scope_always_pages(harness) -> None:
    open_db_window(harness)
    [outcome] = deliver(harness, eventbridge_alarm(f"{PREFIX}-db-data-loss", "ALARM", OPENS + timedelta(minutes=5),
                                                 namespace="AWS/RDS", metric="FreeableMemory"))
    assert (outcome["severity"], outcome["suppressed_by"]) == ("P0", None)
    [page] = harness.notifications("P0")
    assert page["Subject"].startswith("[P0] INC-2026-001 Opened")


def test_a_held_back_incident_resolving_inside_the_window_stays_quiet_but_recorded(harness) -> None:
    open_db_window(harness)
    deliver(harness, storage("ALARM", OPENS + timedelta(minutes=5)))
    [resolved] = deliver(harness, storage("OK", OPENS + timedelta(minutes=20), value=70.0))
    assert (resolved["result"], resolved["suppressed_by"]) == ("resolved", WINDOW)
    assert harness.notifications("P2") == []
    assert len(items(harness, f"SUPPRESSED#{WINDOW}")) == 2


def test_a_window_opened_during_an_open_incident_lets_its_resolution_through(harness) -> None:
    [opened] = deliver(harness, storage("ALARM", OPENS - timedelta(minutes=30)))
    assert len(harness.notifications("P2")) == 1  # paged before the window
    open_db_window(harness)
    [updated] = deliver(harness, storage("ALARM", OPENS + timedelta(minutes=5)))
    assert updated["result"] == "updated" and harness.notifications("P2") == []  # re-triggers never page
    set_alarm(harness, STORAGE, "ALARM")
    actions = end(harness, WINDOW, ENDS)
    assert ("recorded", "still in ALARM; its incident was paged already") in [
        (a.get("result"), a.get("reason")) for a in actions]
    assert harness.notifications("P2") == []
    [resolved] = deliver(harness, storage("OK", ENDS + timedelta(minutes=5), value=70.0))
    assert resolved["incident"] == opened["incident"]
    assert [n["Subject"] for n in harness.notifications("P2")] == [
        f"[P2] {opened['incident']} Resolved: {STORAGE}"]


def test_the_end_of_window_recheck_pages_what_was_held_back(harness) -> None:
    open_db_window(harness)
    [held] = deliver(harness, storage("ALARM", OPENS + timedelta(minutes=5)))
    set_alarm(harness, STORAGE, "ALARM")
    actions = end(harness, WINDOW, ENDS)
    assert ("maintenance.close", "executed") in [(a.get("type"), a.get("result")) for a in actions]
    [paged] = [a for a in actions if a.get("result") == "paged"]
    assert paged["incident"] == held["incident"]
    [page] = harness.notifications("P2")
    assert page["Subject"] == f"[P2] {held['incident']} Still firing after maintenance: {STORAGE}"
    [announcement] = harness.notifications("P3")
    assert announcement["Subject"] == f"[Maintenance] {WINDOW} ended (1 held-back pages)"
    assert "[P2] INC-2026-001 Opened" in announcement["Message"]
    timeline = [e["event"] for e in harness.ledger.get_incident(held["incident"])["timeline"]]
    assert timeline == ["opened", "notification-suppressed", "paged-after-maintenance"]
    # A redelivered end changes nothing.
    assert [a["result"] for a in end(harness, WINDOW, ENDS + timedelta(minutes=1))] == ["skipped"]
    assert harness.all_notifications() == []
    # Its resolution now pages too: it was paged.
    deliver(harness, storage("OK", ENDS + timedelta(minutes=10), value=70.0))
    assert len(harness.notifications("P2")) == 1


def test_the_recheck_opens_an_incident_for_an_alarm_still_firing_that_we_never_heard_of(harness) -> None:
    open_db_window(harness)
    set_alarm(harness, STORAGE, "ALARM")  # its event never reached us (lost, or only muted actions fired)
    set_alarm(harness, f"{PREFIX}-error-rate", "ALARM")  # out of the window's scope: not its business
    actions = end(harness, WINDOW, ENDS)
    [opened] = [a for a in actions if a.get("result") == "opened"]
    assert opened["alarm"] == STORAGE and "end of maintenance window" in opened["reason"]
    [page] = harness.notifications("P2")
    assert page["Subject"].startswith(f"[P2] INC-2026-001 Opened: {STORAGE}")
    assert [i["alarm_name"] for i in harness.incidents()] == [STORAGE]


def test_overlapping_windows_recheck_only_when_the_last_covering_one_ends(harness) -> None:
    open_db_window(harness)
    emergency = enable(harness, OPENS + timedelta(minutes=100), minutes=60)  # everything, until 20:40 + 60
    deliver(harness, storage("ALARM", OPENS + timedelta(minutes=105)))
    set_alarm(harness, STORAGE, "ALARM")
    actions = end(harness, WINDOW, ENDS)
    [still] = [a for a in actions if a.get("alarm") == STORAGE]
    assert still["result"] == "recorded" and emergency in still["reason"]
    assert harness.notifications("P2") == []
    actions = end(harness, emergency, OPENS + timedelta(minutes=160))
    assert [a["result"] for a in actions if a.get("alarm") == STORAGE] == ["paged"]
    assert len(harness.notifications("P2")) == 1


def test_a_window_expires_by_itself_even_if_its_end_never_runs(harness) -> None:
    open_db_window(harness)
    [outcome] = deliver(harness, storage("ALARM", ENDS + timedelta(seconds=1)))
    assert outcome["suppressed_by"] is None
    assert len(harness.notifications("P2")) == 1


def test_extend_moves_the_end_and_the_earlier_end_does_nothing(harness) -> None:
    window = enable(harness, OPENS, minutes=30)
    [extended] = harness.calendar({"task": "maintenance", "action": "extend", "minutes": 60, "by": "alice"},
                                  OPENS + timedelta(minutes=20))
    assert extended["reason"] == "now ends 2026-11-25T20:30:00.000Z"
    [early] = harness.calendar({"task": "window-end", "window": window}, OPENS + timedelta(minutes=30))
    assert (early["result"], early["reason"]) == ("skipped", "extended: now ends 2026-11-25T20:30:00.000Z")
    [outcome] = deliver(harness, storage("ALARM", OPENS + timedelta(minutes=45)))
    assert outcome["suppressed_by"] == window
    [closed] = harness.calendar({"task": "window-end", "window": window}, OPENS + timedelta(minutes=90))
    assert closed["result"] == "executed"


def test_disable_closes_now_and_enable_validates(harness) -> None:
    window = enable(harness, OPENS, minutes=30, components=["Web Application"])
    [disabled] = harness.calendar({"task": "maintenance", "action": "disable", "by": "bob"}, OPENS + timedelta(minutes=5))
    assert (disabled["target"], disabled["result"]) == (window, "executed")
    [record] = items(harness, f"WINDOW#{window}")
    assert (record["status"], record["closed_by"]) == ("CLOSED", "human:bob")
    [again] = harness.calendar({"task": "maintenance", "action": "disable", "by": "bob", "window": window},
                               OPENS + timedelta(minutes=6))
    assert (again["result"], again["reason"]) == ("failed", "that window is not open")
    from opsctl import lambda_host

    with pytest.raises(Exception, match="needs a --message"):
        lambda_host.invoke("calendar", {"task": "maintenance", "action": "enable", "by": "x"},
                           harness.world.dependencies("calendar", harness.clock))
    with pytest.raises(Exception, match="unknown component 'Web App' \\(known: Backups, Data storage"):
        lambda_host.invoke("calendar", {"task": "maintenance", "action": "enable", "message": "m", "components": ["Web App"]},
                           harness.world.dependencies("calendar", harness.clock))
    with pytest.raises(Exception, match="between 1 minute and 720 minutes"):
        lambda_host.invoke("calendar", {"task": "maintenance", "action": "enable", "message": "m", "minutes": 9999},
                           harness.world.dependencies("calendar", harness.clock))


# --- automation paused ---------------------------------------------------------------------------

def test_waf_toggling_pauses_inside_a_window_and_humans_still_act(harness, baseline, waf_acl) -> None:  # noqa: F811
    at = OPENS + timedelta(minutes=5)
    enable(harness, OPENS, components=["Edge (CloudFront + WAF)"])
    event = ops_event(INCIDENT_OPENED, at)
    event["detail"]["component"] = "Edge (CloudFront + WAF)"
    [action] = harness.waf(event, at)
    assert action["result"] == "skipped" and "maintenance window adhoc-20261125-190000" in action["reason"]
    assert waf_acl.action() == "COUNT"
    [manual] = harness.waf(harness.human({"task": "manual", "action": "block", "by": "alice"}), at + timedelta(minutes=1))
    assert manual["result"] == "executed" and waf_acl.action() == "BLOCK"


def test_waf_outside_the_windows_scope_is_not_paused(harness, baseline, waf_acl) -> None:  # noqa: F811
    at = OPENS + timedelta(minutes=5)
    open_db_window(harness)  # Data storage only
    event = ops_event(INCIDENT_OPENED, at)
    event["detail"]["component"] = "Edge (CloudFront + WAF)"
    [action] = harness.waf(event, at)
    assert action["result"] == "executed" and waf_acl.action() == "BLOCK"


def test_rollback_pauses_inside_a_window(harness, targets) -> None:  # noqa: F811
    fired = DEPLOYED + timedelta(minutes=6)
    enable(harness, DEPLOYED + timedelta(minutes=1))
    [action] = targets.run(incident(f"{PREFIX}-error-rate", fired), fired)
    assert action["result"] == "skipped" and "automation paused in its scope" in action["reason"]
    assert targets.alias()["FunctionVersion"] == "2"
    [decision] = [d for d in targets.items("DECISION#") if d["action"] == "rollback"]
    assert decision["verdict"] == "skip"


# --- checklists ----------------------------------------------------------------------------------

MORNING = datetime(2026, 11, 26, 14, 0, tzinfo=timezone.utc)  # 09:00 in New York


def test_the_morning_checklist_reports_the_night_and_runs_once(harness) -> None:
    deliver(harness, storage("ALARM", MORNING - timedelta(hours=6)))
    deliver(harness, storage("OK", MORNING - timedelta(hours=5), value=70.0))
    deliver(harness, eventbridge_alarm(f"{PREFIX}-error-rate", "ALARM", MORNING - timedelta(hours=2)))
    harness.empty_queues()
    [action] = harness.calendar({"task": "morning-checklist", "at": "2026-11-26T14:00:00Z"}, MORNING)
    assert action["result"] == "executed"
    [notice] = harness.notifications("P3")
    assert notice["Subject"] == "[P3] Morning Checklist (9:00 AM)"
    assert ("**Health check:** https://app.financeanalyst.pro/health → canary financeanalyst-pro-demo-health PASSED "
            "at 2026-11-26T13:59Z (OK)") in notice["Message"]
    assert "**Incidents opened:** 2 (P2: 2), 1 of them resolved" in notice["Message"]
    assert f"still OPEN: INC-2026-002 [P2] {PREFIX}-error-rate" in notice["Message"]
    assert "18:00 EST end-of-day" in notice["Message"]
    assert "**Backups:** never verified yet (opsctl backup verify)" in notice["Message"]
    assert "npm run" not in notice["Message"] and "5. Verify backup status: the backup status below" in notice["Message"]
    [record] = items(harness, "CHECKLIST#morning-checklist")
    assert (record["facts"]["opened"], record["facts"]["open"]) == (2, ["INC-2026-002"])

    [again] = harness.calendar({"task": "morning-checklist", "at": "2026-11-26T14:00:00Z"}, MORNING + timedelta(minutes=3))
    assert again["result"] == "skipped"
    assert harness.all_notifications() == []


def test_the_morning_checklist_reviews_the_overnight_metrics_and_error_logs_itself(harness, config) -> None:
    """The runbook's "Review overnight metrics" and "Review error logs" are done, not handed out: each
    alarm's metric over the 15 hours against its threshold, and the Logs Insights query of the last 24 h."""
    traffic = config.alarm("traffic-spike")
    harness.world.client("cloudwatch").put_metric_data(Namespace=traffic.namespace, MetricData=[{
        "MetricName": traffic.metric_name, "Value": 1500.0, "Unit": "Count",
        "Dimensions": [{"Name": k, "Value": v} for k, v in traffic.dimensions.items()],
        "Timestamp": MORNING - timedelta(hours=hours)} for hours in (2, 8)])
    harness.calendar({"task": "morning-checklist", "at": "2026-11-26T14:00:00Z"}, MORNING)
    [notice] = harness.notifications("P3")
    assert "- traffic-spike: AWS/CloudFront Requests Sum: 3000 (within 200000)" in notice["Message"]
    assert "- health: CloudWatchSynthetics SuccessPercent Average: no data" in notice["Message"]
    assert "fire-drill" not in notice["Message"]
    assert "**Errors in the application's logs, last 24 h** (Complete):\n- none" in notice["Message"]
    assert "opsctl metrics --timeframe 15h" not in notice["Message"]  # done, not handed out
    [record] = items(harness, "CHECKLIST#morning-checklist")
    metrics = {m["key"]: m for m in record["facts"]["metrics"]}
    assert (metrics["traffic-spike"]["value"], metrics["traffic-spike"]["beyond"]) == (3000, False)
    assert record["facts"]["error_logs"]["status"] == "Complete"


def test_the_morning_checklist_says_what_the_last_backup_verification_found(harness) -> None:
    from controlplane.records import BackupLedger

    BackupLedger(harness.world.client("dynamodb"), harness.world.settings.ledger_table).write_status({
        "checked_at": "2026-11-26T13:00:00.000Z", "summary": "102 resources checked at 2026-11-26T13:00Z: 1 failing (rpo)",
        "failing": [{"check": "rpo", "subject": "arn:aws:dynamodb:us-east-1:123456789012:table/orders",
                     "reason": "newest recovery point 30 h old (RPO 24 h)"}]})
    harness.calendar({"task": "morning-checklist", "at": "2026-11-26T14:00:00Z"}, MORNING)
    [notice] = harness.notifications("P3")
    assert "**Backups:** 102 resources checked at 2026-11-26T13:00Z: 1 failing (rpo)" in notice["Message"]
    assert "- rpo: arn:aws:dynamodb:us-east-1:123456789012:table/orders: newest recovery point 30 h old" in notice["Message"]


def test_no_checklist_hands_out_an_npm_reminder() -> None:
    from opsctl import lambda_host

    lambda_host.load_handler("calendar")
    from checklists import TASKS

    assert not [step for task in TASKS.values() for step in task.steps if "npm" in step]


def test_a_failing_health_canary_pages_p1(harness) -> None:
    """The health check is the canary's latest run (the application answers 503 to it)."""
    harness.world.http_answers["https://app.financeanalyst.pro/health"] = 503
    harness.calendar({"task": "morning-checklist", "at": "2026-11-26T14:00:00Z"}, MORNING)
    [notice] = harness.notifications("P1")
    assert notice["Subject"] == "[P1] Morning Checklist (9:00 AM) - HEALTH CHECK FAILED"
    assert "canary financeanalyst-pro-demo-health FAILED at 2026-11-26T13:59Z (FAILED: RuntimeError: " \
           "https://app.financeanalyst.pro/health: HTTP 503)" in notice["Message"]


def test_without_a_canary_the_checklist_asks_the_health_url_itself(harness) -> None:
    harness.use_policy(lambda policy: policy["synthetics"].update(enabled=False))
    harness.world.http_answers["https://app.financeanalyst.pro/health"] = 503
    harness.calendar({"task": "morning-checklist", "at": "2026-11-26T14:00:00Z"}, MORNING)
    [notice] = harness.notifications("P1")
    assert "**Health check:** https://app.financeanalyst.pro/health → 503 (FAILED)" in notice["Message"]


def test_unknown_tasks_are_rejected_with_a_reason(harness) -> None:
    from opsctl import lambda_host

    with pytest.raises(Exception, match="unknown calendar task 'lunch'"):
        lambda_host.invoke("calendar", {"task": "lunch"}, harness.world.dependencies("calendar", harness.clock))
