"""Every event of AWS's own shapes (tests/events/, sources in its README) through the function its
deployed rule or subscription reaches, and through `opsctl replay`: processed, or ignored or
rejected with a stated reason; never an exception."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from controlplane.clock import parse_timestamp
from opsctl import lambda_host
from opsctl.replay import Replay, delivery_time
from paths import ROOT

EVENTS = ROOT / "tests" / "events"

# file → (function it reaches, what comes of it). "opened": an incident; "ignored": ignored with a
# reason; "finding:<state>": backup findings; "checked": handled with nothing to report.
EXPECTED: dict[str, tuple[str, str]] = {
    "alarm-single-metric.json": ("triage", "opened"),
    "alarm-metric-math.json": ("triage", "opened"),
    "alarm-anomaly-detection.json": ("triage", "opened"),
    "alarm-composite.json": ("triage", "opened"),
    "alarm-composite-actions-suppressed.json": ("triage", "opened"),
    "alarm-muted-by-mute-rule.json": ("triage", "opened"),
    "alarm-partial-data.json": ("triage", "opened"),
    "alarm-multi-time-series.json": ("triage", "opened"),
    "alarm-contributor-state-change.json": ("triage", "ignored"),
    "alarm-state-time-in-the-future.json": ("triage", "opened"),
    "sns-alarm-notification.json": ("triage", "opened"),
    "sns-alarm-notification-without-alarm-arn.json": ("triage", "opened"),
    "sns-alarm-notification-metric-math.json": ("triage", "opened"),
    "sns-forwarded-eventbridge-alarm.json": ("triage", "opened"),
    "lambda-alarm-action-metric.json": ("triage", "opened"),
    "lambda-alarm-action-composite.json": ("triage", "opened"),
    "health-event.json": ("triage", "ignored"),
    "guardduty-finding.json": ("triage", "opened"),
    "config-rules-compliance-change.json": ("triage", "opened"),
    "securityhub-findings-imported.json": ("triage", "opened"),
    "backup-job-created.json": ("backup_verify", "ignored"),
    "backup-job-pending.json": ("backup_verify", "ignored"),
    "backup-job-running.json": ("backup_verify", "ignored"),
    "backup-job-aborting.json": ("backup_verify", "ignored"),
    "backup-job-completed.json": ("backup_verify", "finding:OK"),
    "backup-job-completed-with-issues.json": ("backup_verify", "finding:OK"),
    "backup-job-aborted.json": ("backup_verify", "finding:ALARM"),
    "backup-job-failed.json": ("backup_verify", "finding:ALARM"),
    "backup-job-expired.json": ("backup_verify", "finding:ALARM"),
    "backup-job-partial.json": ("backup_verify", "finding:ALARM"),
    "restore-job-pending.json": ("backup_verify", "ignored"),
    "restore-job-running.json": ("backup_verify", "ignored"),
    # Restore jobs neither our restore tests nor our restore-testing plan started: someone else's.
    "restore-job-completed.json": ("backup_verify", "ignored"),
    "restore-job-aborted.json": ("backup_verify", "ignored"),
    "restore-job-failed.json": ("backup_verify", "ignored"),
    "copy-job-created.json": ("backup_verify", "ignored"),
    "copy-job-running.json": ("backup_verify", "ignored"),
    "copy-job-completed.json": ("backup_verify", "ignored"),
    "copy-job-failed.json": ("backup_verify", "ignored"),
    "cloudformation-stack-status-change.json": ("waf_toggle", "checked"),
    "cloudformation-stack-status-change-other-stack.json": ("waf_toggle", "checked"),
}
# What `opsctl replay` rejects, saying so: what no deployed rule routes to any function (AWS would
# not deliver it to us). What it ignores: what the function it reaches ignores.
NOT_ROUTED = {"alarm-contributor-state-change.json", "health-event.json", "copy-job-created.json", "copy-job-running.json",
              "copy-job-completed.json", "copy-job-failed.json", "cloudformation-stack-status-change-other-stack.json"}
IGNORED_BY_REPLAY = {name for name, (_, kind) in EXPECTED.items() if kind == "ignored"} - NOT_ROUTED


def load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def summary(function: str, result: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """What came of one invocation, as the EXPECTED kinds, and the entries that carry reasons."""
    if function == "triage":
        outcomes = result["outcomes"]
        [result_kind] = {o["result"] for o in outcomes}
        return result_kind, outcomes
    if function == "backup_verify":
        if result["findings"]:
            [state] = {f["state"] for f in result["findings"] if f["check"] in ("job", "restore")}
            return f"finding:{state}", result["findings"]
        [kind] = {c["result"] for c in result["checks"]} or {"checked"}
        return kind, result["checks"]
    return "checked", result["actions"]


def test_the_corpus_is_every_file_in_the_folder() -> None:
    assert sorted(EXPECTED) == sorted(p.name for p in EVENTS.glob("*.json"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_event_through_its_function(name: str, harness) -> None:
    function, expected = EXPECTED[name]
    event = load(name)
    at = delivery_time(event)
    assert at is not None, "every AWS event says when it was delivered"
    harness.clock.set(at + timedelta(seconds=1))
    harness.world.mirror(event)  # CloudWatch (and AWS Backup) as the event says, as in the replay
    deps = harness.deps if function == "triage" else harness.world.dependencies(function, harness.clock)
    result = lambda_host.invoke(function, event, deps)
    kind, entries = summary(function, result)
    assert kind == expected
    assert all(entry.get("reason") for entry in entries), "every outcome says why"
    assert harness.dead_letters() == [], "nothing AWS sends is parked for a human as malformed"


def test_cloudwatch_suppression_and_mutes_open_the_incident_but_page_nobody(harness) -> None:
    for name, by in (("alarm-composite-actions-suppressed.json", "actions suppressor (WaitPeriod"),
                     ("alarm-muted-by-mute-rule.json", "mute rule arn:aws:cloudwatch:us-east-1:123456789012:"
                                                       "alarm-mute-rule:weekly-patching")):
        event = load(name)
        [outcome] = harness.triage(event, at=parse_timestamp(event["time"]))
        assert outcome["result"] == "opened" and outcome["notified"] is None and by in outcome["held_back_by"]
        incident = harness.ledger.get_incident(outcome["incident"])
        assert by in incident["held_back_by"]
        assert [e["event"] for e in incident["timeline"]] == ["opened", "notification-suppressed"]
        [announced] = harness.ops_events()
        assert announced["detail"]["actionable"] is False and by in announced["detail"]["held_back_by"]
    assert harness.all_notifications() == []


def test_a_state_time_in_the_future_is_taken_as_its_delivery_and_never_blinds_the_alarm(harness) -> None:
    event = load("alarm-state-time-in-the-future.json")
    delivered = parse_timestamp(event["time"])
    [opened] = harness.triage(event, at=delivered)
    assert opened["result"] == "opened" and opened["clock_skew_seconds"] == 30 * 24 * 3600 - 1
    incident = harness.ledger.get_incident(opened["incident"])
    assert incident["opened_at"] == "2019-10-02T17:04:41.000Z"
    assert incident["timeline"][0]["clock_skew"]["reported"] == "2019-11-01T17:04:40.989Z"
    # The next real transition, ten minutes later, resolves it (not "superseded" for 30 days).
    ok = json.loads(json.dumps(event))
    ok["id"], ok["time"] = "later", "2019-10-02T17:14:41Z"
    ok["detail"]["state"] |= {"value": "OK", "timestamp": "2019-10-02T17:14:40.500+0000"}
    [resolved] = harness.triage(ok, at=parse_timestamp(ok["time"]))
    assert resolved["result"] == "resolved" and resolved["incident"] == opened["incident"]


def test_the_three_intake_paths_make_one_incident_of_one_change(harness) -> None:
    eventbridge = load("alarm-single-metric.json")
    action = {"source": "aws.cloudwatch", "alarmArn": eventbridge["resources"][0], "accountId": eventbridge["account"],
              "time": "2019-10-02T17:04:41.200+0000", "region": eventbridge["region"], "alarmData": eventbridge["detail"]}
    deliveries = [load("sns-alarm-notification.json"), eventbridge, action, load("sns-forwarded-eventbridge-alarm.json"),
                  load("sns-alarm-notification-without-alarm-arn.json")]
    results = [harness.triage(d, at=delivery_time(d))[0]["result"] for d in deliveries]
    assert results == ["opened", "duplicate", "duplicate", "duplicate", "duplicate"]
    assert len(harness.incidents()) == 1 and len(harness.all_notifications()) == 1


def test_the_whole_corpus_through_the_replay(config) -> None:
    names = sorted(EXPECTED, key=lambda name: (delivery_time(load(name)), name))
    out = io.StringIO()
    report = Replay(config, traffic_history=False, out=out).run(iter(json.dumps(load(n)) for n in names)).as_dict()
    events = report["events"]
    assert events["received"] == len(names) and events["rejected"] == len(NOT_ROUTED)
    assert events["processed"] + events["duplicates"] == len(names) - len(NOT_ROUTED)
    assert {names[entry["line"] - 1] for entry in report["rejections"]} == NOT_ROUTED
    assert all("no deployed rule routes it" in entry["reason"] for entry in report["rejections"])
    assert {names[entry["line"] - 1] for entry in report["ignored"]} == IGNORED_BY_REPLAY
    assert all(entry["reason"] for entry in report["ignored"])
    held_back = {entry["alarm"]: entry["suppressed_by"] for entry in report["suppressed_notifications"]}
    assert "WaitPeriod" in held_back["ServiceAggregatedAlarm"]
    opened = {i["alarm"] for i in report["incidents"]}
    assert {"ServerCpuTooHigh", "TotalNetworkTrafficTooHigh", "EC2CPUUtilizationAnomalyDetection", "RequestsPerHostTooHigh",
            "HostsHighCpu", "lambda-demo-metric-alarm", "CompositeDemo.Main"} <= opened


def test_a_handler_that_raises_is_a_rejected_line_and_the_replay_goes_on(config, tmp_path: Path) -> None:
    lines = [json.dumps({"task": "outcome-check", "at": "2026-11-26T10:00:00Z"}),
             json.dumps(load("alarm-single-metric.json"))]
    report = Replay(config, traffic_history=False, out=io.StringIO()).run(iter(lines)).as_dict()
    assert report["events"]["rejected"] == 1 and report["events"]["processed"] == 1
    [rejection] = report["rejections"]
    assert rejection["line"] == 1 and "waf_toggle raised KeyError" in rejection["reason"]
    assert [i["alarm"] for i in report["incidents"]] == ["ServerCpuTooHigh"]
