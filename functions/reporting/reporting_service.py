"""What users and stakeholders read: the status page, incident reports and period reports.

Triggers:
  ops bus incident and maintenance events, {"task": "status-page"} (every minute: the anti-flap
      timers move with the clock)                       → re-render the status page if it changed
  ops bus "Incident Resolved" of a configured severity  → the incident report, Markdown in S3
  {"task": "report", "period": daily|weekly|monthly, "at"} → the period's report in S3 (Markdown and
      JSON) and its summary on the P3 topic, once per period
  {"task": "compute-baselines"} (hourly) → the thresholds of the alarms that follow their history
      (baselines.py)
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timedelta
from typing import Any

from baselines import retune_all
from controlplane.clock import isoformat, parse_timestamp
from controlplane.errors import IncidentNotFound, MalformedEvent
from controlplane.events import INCIDENT_RESOLVED, OPS_SOURCE
from controlplane.guardrails import Guardrails
from controlplane.ledger import IncidentLedger
from controlplane.records import BackupLedger, Runs
from controlplane.remediation import action_note
from controlplane.runtime import Dependencies
from controlplane.windows import WindowLedger
from reports import PERIODS, period_bounds, period_metrics, previous_period, render_incident_report, render_period
from status_page import compute_status, render_html
from trends import performance_trends

# Incidents older than this that are still open are rare enough to leave off the status page's
# query (it runs every minute); the period reports look back as far as their period needs.
STATUS_LOOKBACK = timedelta(days=30)


class ReportingService:
    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps
        self.policy = deps.policy
        self.incidents = deps.repository(IncidentLedger)

    def handle(self, event: Any) -> list[dict[str, Any]]:
        if not isinstance(event, dict):
            raise MalformedEvent("not a reporting trigger")
        notes = []
        if event.get("task") == "compute-baselines":
            return retune_all(self.deps)
        if event.get("task") == "report":
            if event.get("period") not in PERIODS:
                raise MalformedEvent(f"report period must be one of {', '.join(PERIODS)}")
            at = parse_timestamp(event["at"]) if event.get("at") else self.deps.clock.now()
            day = previous_period(event["period"], at, self.policy.timezone)
            return [self.period_report(event["period"], day)]
        if event.get("source") == OPS_SOURCE and event.get("detail-type") == INCIDENT_RESOLVED \
                and event["detail"].get("severity") in self.policy.reports.incident_report_severities:
            notes.append(self.incident_report(event["detail"]["incident_id"]))
        if event.get("source") == OPS_SOURCE or event.get("task") == "status-page":
            notes.append(self.publish_status())
            return notes
        raise MalformedEvent(f"not a reporting trigger: task={event.get('task')!r}")

    # --- status page ----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        now = self.deps.clock.now()
        return compute_status(self.incidents_since(now - STATUS_LOOKBACK), self.deps.repository(WindowLedger).recorded_open(),
                              self.policy, now)

    def publish_status(self) -> dict[str, Any]:
        """Write index.html and status.json when what they say changed (not on every tick)."""
        status = self.status()
        body = json.dumps({k: v for k, v in status.items() if k != "updated_at"}, sort_keys=True)
        digest = hashlib.sha256(body.encode()).hexdigest()
        s3 = self.deps.client("s3")
        bucket = self.deps.settings.status_bucket
        try:
            current = s3.head_object(Bucket=bucket, Key="status.json")["Metadata"].get("digest")
        except s3.exceptions.ClientError:
            current = None
        if current == digest:
            return action_note("status-page", "status.json", "skipped", f"unchanged: {status['status']}")
        # The JSON first: machines polling it see the change no later than people.
        s3.put_object(Bucket=bucket, Key="status.json", Body=json.dumps(status, indent=1).encode(),
                      ContentType="application/json", CacheControl="max-age=30", Metadata={"digest": digest})
        s3.put_object(Bucket=bucket, Key="index.html", Body=render_html(status).encode(),
                      ContentType="text/html; charset=utf-8", CacheControl="max-age=30")
        return action_note("status-page", "index.html", "executed", f"now {status['status']}")

    # --- reports --------------------------------------------------------------------------------

    def incident_report(self, incident_id: str) -> dict[str, Any]:
        try:
            incident = self.incidents.get_incident(incident_id)
        except IncidentNotFound:
            return action_note("incident-report", incident_id, "skipped", "no such incident")
        key = f"incidents/{incident['opened_at'][:4]}/{incident_id}.md"
        self.deps.client("s3").put_object(Bucket=self.deps.settings.reports_bucket, Key=key,
                                          Body=render_incident_report(incident).encode(),
                                          ContentType="text/markdown; charset=utf-8")
        return action_note("incident-report", incident_id, "executed", f"s3://{self.deps.settings.reports_bucket}/{key}")

    def period_metrics(self, period: str, day: date) -> dict[str, Any]:
        start, end = period_bounds(period, day, self.policy.timezone)
        # Incidents resolved in the period may have opened before it: look back one more period.
        incidents = self.incidents_since(start - (end - start) - STATUS_LOOKBACK)
        metrics = period_metrics(incidents, self.decisions_between(start, end), start, end, self.policy, self.backup())
        # A day is too short to tell a trend from noise: the weekly and monthly reports compare.
        return metrics | {"performance_trends": performance_trends(self.deps, start, end) if period != "daily" else None}

    def period_report(self, period: str, day: date) -> dict[str, Any]:
        metrics = self.period_metrics(period, day)
        markdown = render_period(period, metrics, self.policy.app)
        stem = f"reports/{period}/{day.isoformat()}"
        s3 = self.deps.client("s3")
        bucket = self.deps.settings.reports_bucket
        s3.put_object(Bucket=bucket, Key=f"{stem}.md", Body=markdown.encode(), ContentType="text/markdown; charset=utf-8")
        s3.put_object(Bucket=bucket, Key=f"{stem}.json", Body=json.dumps(metrics, indent=1).encode(),
                      ContentType="application/json")
        now = isoformat(self.deps.clock.now())
        subject = (f"[P3] {period.capitalize()} report {day.isoformat()}: {metrics['opened']} incidents, "
                   f"availability {metrics['availability_percent']} %")
        outbox = {"transition_id": f"report|{period}|{day.isoformat()}", "notification": {
            "severity": "P3", "subject": subject[:100], "message": markdown + f"\nFull report: s3://{bucket}/{stem}.md",
            "attributes": {"kind": "report", "severity": "P3", "period": period}}}
        record = {"written_at": now, "key": f"{stem}.md"}
        if not self.deps.repository(Runs).report_sent(period, day.isoformat(), record, outbox, now):
            return action_note(f"report.{period}", day.isoformat(), "skipped", "already sent for this period (rewritten in S3)")
        return action_note(f"report.{period}", day.isoformat(), "executed", subject)

    # --- ledger reads ---------------------------------------------------------------------------

    def incidents_since(self, since: datetime) -> list[dict[str, Any]]:
        return list(self.incidents.iter_incidents(newest_first=False, opened_since=isoformat(since)))

    def decisions_between(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        return self.deps.repository(Guardrails).decisions(isoformat(start), isoformat(end))

    def backup(self) -> dict[str, Any] | None:
        """The backup verifier's latest summary, if one is deployed."""
        return self.deps.repository(BackupLedger).status()

