"""The runbook's Daily Operations and Weekly/Monthly Maintenance checklists, done by the control plane
as far as it can (health check, the metrics over the period, the errors in the application's logs,
backup status, incidents, automated actions, controls, what is coming) and handed to the humans with
the rest of the runbook's steps, each as the opsctl command that does it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from controlplane.clock import isoformat, parse_timestamp
from controlplane.cron import upcoming
from controlplane.guardrails import Guardrails
from controlplane.ledger import IncidentLedger
from controlplane.logs_insights import top_errors
from controlplane.maintenance import Window
from controlplane.metric_values import runbook_alarm_values
from controlplane.records import BackupLedger
from controlplane.runtime import Dependencies

# How far back a checklist looks for incidents still open (the query is ordered by opening time).
OPEN_LOOKBACK = timedelta(days=30)
# The calendar function has 30 s: the logs query gets at most this long, then the checklist goes
# out saying it was stopped.
LOGS_WAIT_SECONDS = 15


@dataclass(frozen=True)
class Task:
    title: str
    steps: tuple[str, ...]  # the runbook's commands for this task, for the humans
    looks_back: timedelta  # the period its summary covers
    health_check: bool = False
    backup_status: bool = False  # the backup verification's latest summary
    metrics: bool = False  # each runbook alarm's metric over the period, against its threshold
    error_logs: bool = False  # the application's most frequent errors over the last 24 hours


# Each runbook step: done below, or the opsctl command that does it, or (the application's own
# work) who does it. The runbook's npm scripts belong to the old tooling this replaces.
TASKS = {
    "morning-checklist": Task("Morning Checklist (9:00 AM)", (
        "Check system health: the health check below", "Review overnight metrics: the metrics below",
        "Check for alerts: the incidents below (opsctl incident list)",
        "Review error logs: the errors below (opsctl logs search --since 24h for more)",
        "Verify backup status: the backup status below (opsctl backup list)",
    ), timedelta(hours=15), health_check=True, backup_status=True, metrics=True, error_logs=True),
    "end-of-day": Task("End of Day Checklist (6:00 PM)", (
        "Generate daily report: the summary below (opsctl report daily)",
        "Archive logs: nothing by hand (the log groups keep 30 days, set by the stacks)",
        "Update documentation: the team's own", "Plan tomorrow's tasks: the next 24 hours below (opsctl calendar)",
    ), timedelta(hours=24), backup_status=True, metrics=True, error_logs=True),
    "weekly-health-check": Task("Monday 9:00 AM - System Health Check", (
        "System diagnostics: opsctl verify (the deployment against its config) and opsctl drill (paging, end to end)",
        "Performance audit: the metrics below (opsctl metrics --timeframe 7d)",
        "Security scan: GuardDuty and Security Hub findings are incidents (opsctl incident list --all)",
        "Log rotation: nothing by hand (30-day retention)",
        "Update documentation: the team's own",
    ), timedelta(days=7), health_check=True, backup_status=True, metrics=True),
    "database-maintenance": Task("Wednesday 2:00 PM - Database Maintenance", (
        "Backup verification: the backup status below (opsctl backup verify)",
        "Index optimization, cleanup of old data, performance tuning: the database team's, inside this window "
        "(its alarms are held back and re-checked at its end)",
    ), timedelta(days=7), backup_status=True),
    "security-update": Task("First Monday - Security Update", (
        "Dependency updates, security patches, vulnerability scan: the application's pipeline (each deploy is "
        "recorded: opsctl deploy status)", "Access review: who may deploy (config `deployers`) and who may act "
        "(opsctl decisions list)",
    ), timedelta(days=31)),
    "performance-review": Task("Third Monday - Performance Review", (
        "Performance analysis: opsctl report monthly and opsctl metrics --timeframe 30d",
        "Resource optimization, capacity planning, cost optimization: the team's own, from those figures",
    ), timedelta(days=31)),
}


@dataclass
class Checklist:
    severity: str
    subject: str
    message: str
    facts: dict[str, Any]


def run_checklist(name: str, at: datetime, deps: Dependencies, windows: list[Window]) -> Checklist:
    task = TASKS[name]
    policy = deps.policy
    zone = ZoneInfo(policy.timezone)
    since = at - task.looks_back
    facts: dict[str, Any] = {"task": name, "at": isoformat(at), "since": isoformat(since)}
    lines = [f"## {task.title}", "", f"Period: since {since.astimezone(zone):%a %d %b %H:%M %Z}", ""]
    severity = "P3"
    if task.health_check:
        healthy, facts["health"], said = _canary_health(deps) if policy.synthetics.enabled else _http_health(deps)
        lines.append(f"**Health check:** {said}")
        if not healthy:
            severity = "P1"  # the runbook's first step failed: someone must look now, not read a digest
    if task.metrics:
        facts["metrics"] = _metrics(deps, since, at)
        lines.append("**Metrics over the period** (each alarm's statistic over the whole period, against its threshold):")
        lines += [f"- {m['key']}: {m['label']}: " + (m.get("error") or ("no data" if m["value"] is None else
                  f"{m['value']:g} ({'BEYOND' if m['beyond'] else 'within'} {m['threshold']:g})")) for m in facts["metrics"]]
    if task.error_logs:
        day = at - timedelta(hours=24)
        found = top_errors(deps.client("logs"), policy.investigate.log_groups, day, at, sleep=deps.sleep, limit=5,
                           wait_seconds=LOGS_WAIT_SECONDS)
        facts["error_logs"] = found
        lines.append(f"**Errors in the application's logs, last 24 h** ({found['status']}):")
        lines += [f"- ×{e['occurrences']} {e['message']}" for e in found["errors"]] or ["- none"]
    if task.backup_status:
        backups = deps.repository(BackupLedger).status()
        facts["backups"] = backups.get("summary") if backups else None
        lines.append(f"**Backups:** {backups['summary'] if backups else 'never verified yet (opsctl backup verify)'}")
        lines += [f"- {f['check']}: {f['subject']}: {f['reason']}" for f in (backups or {}).get("failing", [])[:10]]
    incidents = _incidents_since(deps, since)
    opened = [i for i in incidents if i["opened_at"] >= isoformat(since)]
    still_open = [i for i in incidents if i["status"] != "RESOLVED"]
    by_severity = Counter(i["severity"] for i in opened)
    facts |= {"opened": len(opened), "opened_by_severity": dict(sorted(by_severity.items())),
              "resolved": sum(1 for i in opened if i["status"] == "RESOLVED"),
              "open": [i["id"] for i in still_open]}
    lines.append(f"**Incidents opened:** {len(opened)} "
                 f"({', '.join(f'{s}: {n}' for s, n in sorted(by_severity.items())) or 'none'}), "
                 f"{facts['resolved']} of them resolved")
    lines += [f"- still {i['status']}: {i['id']} [{i['severity']}] {i['alarm_name']} since {i['opened_at'][:16]}"
              for i in still_open]
    guardrails = deps.repository(Guardrails)
    decisions = guardrails.decisions(isoformat(since))
    facts["automated_actions"] = dict(sorted(Counter(f"{d['action']}:{d['result']}" for d in decisions).items()))
    lines.append(f"**Automated decisions:** {len(decisions)} "
                 + (f"({', '.join(f'{k} ×{n}' for k, n in facts['automated_actions'].items())})" if decisions else ""))
    controls = [c for c in guardrails.controls() if c["until"] > isoformat(at)]
    facts["controls"] = [c["control"] for c in controls]
    lines.append("**Automation controls on:** " + (", ".join(f"{c['control']} until {c['until'][:16]} ({c.get('reason')})"
                                                           for c in controls) or "none"))
    facts["windows"] = [w.id for w in windows]
    lines.append("**Maintenance windows open:** " + (", ".join(f"{w.id} until {w.ends_at[:16]}" for w in windows)
                                                      or "none"))
    coming = sorted(upcoming(policy, at, at + timedelta(hours=24)) + _scheduled_changes(still_open, at, at + timedelta(hours=24)))
    facts["next_24_hours"] = [f"{when.astimezone(zone):%a %H:%M %Z} {what}" for when, what in coming]
    lines += ["", "### Next 24 hours"] + [f"- {line}" for line in facts["next_24_hours"]]
    lines += ["", "### Runbook steps"] + [f"{n}. {step}" for n, step in enumerate(task.steps, start=1)]
    flag = "" if severity == "P3" else " - HEALTH CHECK FAILED"
    return Checklist(severity, f"[{severity}] {task.title}{flag}", "\n".join(lines), facts)


def _http_health(deps: Dependencies) -> tuple[bool, dict[str, Any], str]:
    """The runbook's `curl -f` of the health URL, from here (no canary is configured)."""
    url = deps.policy.maintenance.health_check_url
    http = deps.http_status(url)
    healthy = 200 <= http < 400
    return healthy, {"url": url, "status": http, "healthy": healthy}, \
        f"{url} → {http or 'no answer'} ({'OK' if healthy else 'FAILED'})"


def _canary_health(deps: Dependencies) -> tuple[bool, dict[str, Any], str]:
    """The health canary's latest finished run: it asks the URL every few minutes, from AWS."""
    canary = deps.policy.synthetics
    runs = deps.client("synthetics").get_canary_runs(Name=canary.canary_name, MaxResults=5)["CanaryRuns"]
    done = [run for run in runs if run["Status"]["State"] in ("PASSED", "FAILED")]
    if not done:
        return False, {"canary": canary.canary_name, "healthy": False, "state": None}, \
            f"the canary {canary.canary_name} has no finished run (FAILED: is it running?)"
    last = max(done, key=lambda run: run["Timeline"]["Completed"])
    healthy = last["Status"]["State"] == "PASSED"
    completed = isoformat(last["Timeline"]["Completed"])
    reason = last["Status"].get("StateReason") or ""
    return healthy, {"canary": canary.canary_name, "healthy": healthy, "state": last["Status"]["State"],
                     "completed_at": completed, "reason": reason}, \
        (f"{canary.url} → canary {canary.canary_name} {last['Status']['State']} at {completed[:16]}Z "
         f"({'OK' if healthy else 'FAILED: ' + reason})")


def _metrics(deps: Dependencies, since: datetime, at: datetime) -> list[dict[str, Any]]:
    """Each runbook alarm's metric (or formula) as one value over [since, at]."""
    cloudwatch = deps.client("cloudwatch")
    seconds = int((at - since).total_seconds()) // 60 * 60  # GetMetricData periods are whole minutes
    found = []
    for _, alarm, values, error in runbook_alarm_values(cloudwatch, deps.policy.alarms, at - timedelta(seconds=seconds),
                                                        at, seconds):
        row: dict[str, Any] = {"key": alarm.key, "label": alarm.metric_label, "threshold": alarm.threshold,
                               "value": None, "beyond": False}
        if values is None:
            found.append(row | {"error": f"unavailable: {error}"})
            continue
        if values:
            value = next(iter(values.values()))
            greater = alarm.comparison.startswith("Greater")
            row |= {"value": round(value, 4), "beyond": value > alarm.threshold if greater else value < alarm.threshold}
        found.append(row)
    return found


def _scheduled_changes(incidents: list[dict[str, Any]], start: datetime, end: datetime) -> list[tuple[datetime, str]]:
    """AWS Health's scheduled changes (open P3 incidents) starting in [start, end)."""
    found = []
    for incident in incidents:
        change = incident.get("scheduled_change")
        if change and change.get("starts_at") and start <= parse_timestamp(change["starts_at"]) < end:
            until = f" until {change['ends_at'][:16]} UTC" if change.get("ends_at") else ""
            found.append((parse_timestamp(change["starts_at"]),
                          f"AWS scheduled change to {change['service']}{until} ({incident['id']})"))
    return found


def _incidents_since(deps: Dependencies, since: datetime) -> list[dict[str, Any]]:
    """Incidents opened since `since`, and older ones still open within OPEN_LOOKBACK."""
    ledger = deps.repository(IncidentLedger)
    cutoff = isoformat(since)
    return [i for i in ledger.iter_incidents(opened_since=isoformat(since - OPEN_LOOKBACK))
            if i["opened_at"] >= cutoff or i["status"] != "RESOLVED"]
