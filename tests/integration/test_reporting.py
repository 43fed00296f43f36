"""The reporting function under moto: the status page written to its bucket when it changes, incident
reports for P0/P1, period reports in S3 and once on the P3 topic."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from controlplane.events import INCIDENT_RESOLVED
from factories import eventbridge_alarm
from opsctl import lambda_host

OPENED = datetime(2026, 11, 25, 15, 0, tzinfo=timezone.utc)
AVAILABILITY = "financeanalyst-pro-demo-availability"  # P1, Web Application


def reporting(harness, event: dict[str, Any], at: datetime) -> list[dict[str, Any]]:
    harness.clock.set(at)
    checks = lambda_host.invoke("reporting", event, harness.world.dependencies("reporting", harness.clock))["checks"]
    harness.relay()
    return list(checks)


def status_json(harness) -> dict[str, Any]:
    body = harness.world.client("s3").get_object(Bucket=harness.world.settings.status_bucket, Key="status.json")["Body"]
    return json.loads(body.read())


def test_the_status_page_is_written_when_it_changes_and_only_then(harness) -> None:
    [first] = reporting(harness, {"task": "status-page"}, OPENED)
    assert (first["result"], status_json(harness)["status"]) == ("executed", "Operational")
    [same] = reporting(harness, {"task": "status-page"}, OPENED + timedelta(minutes=1))
    assert same["result"] == "skipped"

    harness.triage(eventbridge_alarm(AVAILABILITY, "ALARM", OPENED + timedelta(minutes=2), value=97.0), OPENED)
    [too_soon] = reporting(harness, {"task": "status-page"}, OPENED + timedelta(minutes=4))
    assert too_soon["result"] == "skipped"  # not yet lasted 5 minutes
    [shown] = reporting(harness, {"task": "status-page"}, OPENED + timedelta(minutes=7))
    assert shown["reason"] == "now Investigating"
    page = harness.world.client("s3").get_object(Bucket=harness.world.settings.status_bucket, Key="index.html")
    assert page["ContentType"] == "text/html; charset=utf-8"
    assert b'data-status="Investigating"' in page["Body"].read()


def test_resolved_p1_gets_an_incident_report_and_the_page_moves_to_monitoring(harness) -> None:
    harness.triage(eventbridge_alarm(AVAILABILITY, "ALARM", OPENED, value=97.0), OPENED)
    harness.triage(eventbridge_alarm(AVAILABILITY, "OK", OPENED + timedelta(minutes=40), value=100.0),
                   OPENED + timedelta(minutes=40))
    [resolved] = [e for e in harness.ops_events() if e["detail-type"] == INCIDENT_RESOLVED]
    checks = reporting(harness, resolved, OPENED + timedelta(minutes=41))
    assert [c["type"] for c in checks] == ["incident-report", "status-page"]
    report = harness.world.client("s3").get_object(Bucket=harness.world.settings.reports_bucket,
                                                   Key="incidents/2026/INC-2026-001.md")["Body"].read().decode()
    assert "**Incident ID:** INC-2026-001" in report and "**Status:** Resolved" in report
    assert status_json(harness)["status"] == "Monitoring"


def test_the_daily_report_is_written_and_announced_once(harness) -> None:
    harness.triage(eventbridge_alarm(AVAILABILITY, "ALARM", OPENED, value=97.0), OPENED)
    harness.triage(eventbridge_alarm(AVAILABILITY, "OK", OPENED + timedelta(minutes=30), value=100.0),
                   OPENED + timedelta(minutes=30))
    harness.empty_queues()
    morning = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)  # 07:00 in New York: yesterday's report
    [written] = reporting(harness, {"task": "report", "period": "daily", "at": "2026-11-26T12:00:00Z"}, morning)
    assert written["result"] == "executed"
    s3 = harness.world.client("s3")
    metrics = json.loads(s3.get_object(Bucket=harness.world.settings.reports_bucket,
                                       Key="reports/daily/2026-11-25.json")["Body"].read())
    assert (metrics["opened"], metrics["resolved"], metrics["mttr_seconds"]) == (1, 1, 1800.0)
    [summary] = harness.notifications("P3")
    assert summary["Subject"] == "[P3] Daily report 2026-11-25: 1 incidents, availability 100.0 %"
    [again] = reporting(harness, {"task": "report", "period": "daily", "at": "2026-11-26T12:00:00Z"},
                        morning + timedelta(minutes=2))
    assert again["result"] == "skipped" and harness.notifications("P3") == []


def test_the_post_mortem_shows_the_alarm_metric_around_the_incident(harness, config) -> None:
    """`opsctl incident analyze`'s metric: the alarm's own metric, period and statistic, from an hour
    before the incident to an hour after it, drawn as a sparkline against the threshold."""
    from opsctl.story import incident_story, metric_around

    lambda_host.load_handler("reporting")
    from reports import render_postmortem

    spec = config.alarm("error-rate")
    opened = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
    harness.triage(eventbridge_alarm(spec.name, "ALARM", opened, description=spec.tagged_description), at=opened)
    harness.triage(eventbridge_alarm(spec.name, "OK", opened + timedelta(minutes=10), previous="ALARM",
                                     description=spec.tagged_description), at=opened + timedelta(minutes=10))
    values = [1.0, 2.0, 9.0, 12.0, 3.0]  # per minute, from 2 minutes before it opened
    harness.world.client("cloudwatch").put_metric_data(Namespace=spec.namespace, MetricData=[
        {"MetricName": spec.metric_name, "Dimensions": [{"Name": k, "Value": v} for k, v in spec.dimensions.items()],
         "Timestamp": opened + timedelta(minutes=minute - 2), "Value": value} for minute, value in enumerate(values)])
    [incident] = harness.incidents()
    story = incident_story(harness.world.dependencies("opsctl", harness.clock), incident)
    metric = metric_around(harness.world.client("cloudwatch"), config, story, opened + timedelta(hours=3))
    assert metric is not None and [value for _, value in metric["points"]] == values
    draft = render_postmortem(story, metric, harness.deps.policy)
    assert f"- `▁▁▆█▂` min 1, max 12, threshold {spec.threshold:g}" in draft.splitlines()  # eighths of 1–12
    assert metric_around(harness.world.client("cloudwatch"), config, story | {"alarm_name": "someone-elses"},
                         opened) is None


def test_metrics_show_each_alarm_s_last_values_against_its_threshold(harness, config) -> None:
    """`opsctl metrics --timeframe 1h` (the runbook's monitor:metrics): each alarm's own metric."""
    from opsctl.formatting import metric_table
    from opsctl.story import metric_series

    spec = config.alarm("error-rate")
    now = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)
    harness.world.client("cloudwatch").put_metric_data(Namespace=spec.namespace, MetricData=[
        {"MetricName": spec.metric_name, "Dimensions": [{"Name": k, "Value": v} for k, v in spec.dimensions.items()],
         "Timestamp": now - timedelta(minutes=minutes), "Value": value}
        for minutes, value in ((30, 1.0), (20, 4.0), (10, 8.0))])
    series = metric_series(harness.world.client("cloudwatch"), spec, now - timedelta(hours=1), now)
    assert [value for _, value in series["points"]] == [1.0, 4.0, 8.0]
    [_, line] = metric_table([{"alarm": spec.name} | series]).splitlines()
    assert line.split() == [spec.name, "8", f"{spec.threshold:g}", "▁▄█"]


def test_the_weekly_report_compares_each_alarm_metric_with_the_week_before(harness, config) -> None:
    """Performance trends (P3): traffic doubled from one week to the next is a pattern change; a
    metric nothing published says so rather than inventing a trend."""
    spec = config.alarm("traffic-spike")
    week = datetime(2026, 11, 16, 5, 0, tzinfo=timezone.utc)  # Monday 00:00 in New York
    cloudwatch = harness.world.client("cloudwatch")
    for start, requests in ((week - timedelta(weeks=1), 1000.0), (week, 2000.0)):
        cloudwatch.put_metric_data(Namespace=spec.namespace, MetricData=[{
            "MetricName": spec.metric_name, "Value": requests, "Unit": "Count",
            "Dimensions": [{"Name": k, "Value": v} for k, v in spec.dimensions.items()],
            "Timestamp": start + timedelta(days=day, hours=12)} for day in range(7)])
    monday = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
    [written] = reporting(harness, {"task": "report", "period": "weekly", "at": "2026-11-23T12:00:00Z"}, monday)
    assert written["result"] == "executed"
    s3, bucket = harness.world.client("s3"), harness.world.settings.reports_bucket
    trends = {row["key"]: row for row in json.loads(s3.get_object(
        Bucket=bucket, Key="reports/weekly/2026-11-22.json")["Body"].read())["performance_trends"]}
    assert "fire-drill" not in trends
    assert (trends["traffic-spike"]["this"], trends["traffic-spike"]["previous"]) == (14000, 7000)
    assert (trends["traffic-spike"]["change_percent"], trends["traffic-spike"]["pattern_change"]) == (100, True)
    assert (trends["health"]["this"], trends["health"]["change_percent"]) == (None, None)
    markdown = s3.get_object(Bucket=bucket, Key="reports/weekly/2026-11-22.md")["Body"].read().decode()
    assert "| traffic-spike | AWS/CloudFront Requests Sum | 14000 | 7000 | +100 % **pattern change** |" in markdown
    [daily] = reporting(harness, {"task": "report", "period": "daily", "at": "2026-11-23T12:00:00Z"},
                        monday + timedelta(minutes=1))
    assert daily["result"] == "executed"
    assert json.loads(s3.get_object(Bucket=bucket, Key="reports/daily/2026-11-22.json")["Body"].read())[
        "performance_trends"] is None
