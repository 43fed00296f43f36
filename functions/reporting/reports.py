"""The runbook's Metrics & Reporting (daily, weekly, monthly) and its Internal Communication template
(the incident report), computed from the ledger.

Definitions (stated in every report):
  MTTA  mean of acknowledged_at − opened_at over incidents opened in the period and acknowledged
  MTTR  mean of resolved_at − opened_at over incidents resolved in the period
  downtime  time inside the period during which at least one P0 incident ("complete system outage")
            was open (overlapping incidents count once)
  error budget  (100 − availability target) % of the period; remaining = budget − downtime
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from statistics import mean
from typing import Any
from zoneinfo import ZoneInfo

from controlplane.clock import isoformat, parse_timestamp
from controlplane.events import DRILL_COMPONENT
from controlplane.policy import Policy
from controlplane.settings import SEVERITIES
from controlplane.text import quoted

PERIODS = ("daily", "weekly", "monthly")


def period_bounds(period: str, day: date, zone: str) -> tuple[datetime, datetime]:
    """The local calendar day, Monday-to-Sunday week or month containing `day`, in UTC."""
    tz = ZoneInfo(zone)
    if period == "daily":
        first, last = day, day + timedelta(days=1)
    elif period == "weekly":
        first = day - timedelta(days=day.weekday())
        last = first + timedelta(days=7)
    else:
        first = day.replace(day=1)
        last = (first + timedelta(days=32)).replace(day=1)
    return datetime.combine(first, time(0), tz), datetime.combine(last, time(0), tz)


def previous_period(period: str, now: datetime, zone: str) -> date:
    """The period a scheduled report covers: the one that ended before `now` (local time)."""
    today = now.astimezone(ZoneInfo(zone)).date()
    start, _ = period_bounds(period, today, zone)
    return (start.astimezone(ZoneInfo(zone)) - timedelta(days=1)).date()


def period_metrics(incidents: list[dict[str, Any]], decisions: list[dict[str, Any]], start: datetime,
                   end: datetime, policy: Policy, backup: dict[str, Any] | None) -> dict[str, Any]:
    lo, hi = isoformat(start), isoformat(end)
    # Fire drills are the control plane testing its own paging: counted apart, never in MTTA/MTTR.
    drills = [i for i in incidents if i.get("component") == DRILL_COMPONENT and lo <= i["opened_at"] < hi]
    incidents = [i for i in incidents if i.get("component") != DRILL_COMPONENT]
    opened = [i for i in incidents if lo <= i["opened_at"] < hi]
    resolved = [i for i in incidents if i.get("resolved_at") and lo <= i["resolved_at"] < hi]
    acknowledged = [i for i in opened if i.get("acknowledged_at")]

    def seconds(items: list[dict[str, Any]], field: str) -> float | None:
        spans = [(parse_timestamp(i[field]) - parse_timestamp(i["opened_at"])).total_seconds() for i in items]
        return round(mean(spans), 1) if spans else None

    def by_severity(items: list[dict[str, Any]]) -> dict[str, int]:
        counts = Counter(i["severity"] for i in items)
        return {s: counts.get(s, 0) for s in SEVERITIES}

    period_seconds = (end - start).total_seconds()
    downtime = _downtime([i for i in incidents if i["severity"] == "P0"], start, end)
    target = policy.reports.availability_target
    budget = period_seconds * (100 - target) / 100
    actions = Counter(f"{d['action']} {d['result']}" for d in decisions)
    outcomes = Counter(str((d.get("outcome") or {}).get("status", "pending")) for d in decisions
                       if d["result"] == "executed")
    return {
        "period": {"start": lo, "end": hi},
        "opened": len(opened), "opened_by_severity": by_severity(opened),
        "resolved": len(resolved), "resolved_by_severity": by_severity(resolved),
        "still_open": sorted(i["id"] for i in incidents if i["opened_at"] < hi and i["status"] != "RESOLVED"),
        "mtta_seconds": seconds(acknowledged, "acknowledged_at"),
        "mttr_seconds": seconds(resolved, "resolved_at"),
        "mtta_seconds_by_severity": {s: seconds([i for i in acknowledged if i["severity"] == s], "acknowledged_at")
                                     for s in SEVERITIES},
        "mttr_seconds_by_severity": {s: seconds([i for i in resolved if i["severity"] == s], "resolved_at")
                                     for s in SEVERITIES},
        "automated_actions": dict(sorted(actions.items())),
        "action_outcomes": dict(sorted(outcomes.items())),
        "downtime_seconds": round(downtime, 1),
        "availability_percent": round(100 * (1 - downtime / period_seconds), 4),
        "availability_target": target,
        "error_budget_seconds": round(budget, 1),
        "error_budget_remaining_seconds": round(budget - downtime, 1),
        "backup": backup,
        "fire_drills": len(drills),
    }


def _downtime(outages: list[dict[str, Any]], start: datetime, end: datetime) -> float:
    spans = sorted((max(parse_timestamp(i["opened_at"]), start),
                    min(parse_timestamp(i["resolved_at"]) if i.get("resolved_at") else end, end)) for i in outages)
    total, covered_to = 0.0, start
    for first, last in spans:
        first = max(first, covered_to)
        if last > first:
            total += (last - first).total_seconds()
            covered_to = last
    return total


def _duration(value: float | None) -> str:
    if value is None:
        return "n/a"
    minutes = round(value / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def render_period(period: str, metrics: dict[str, Any], app: str) -> str:
    m = metrics
    lines = [
        f"# {period.capitalize()} report — {app}",
        "",
        f"Period: {m['period']['start']} → {m['period']['end']}",
        "",
        "## Incidents",
        f"- Opened: {m['opened']} ({', '.join(f'{s}: {n}' for s, n in m['opened_by_severity'].items())})",
        f"- Resolved: {m['resolved']} ({', '.join(f'{s}: {n}' for s, n in m['resolved_by_severity'].items())})",
        f"- Still open at the end: {', '.join(m['still_open']) or 'none'}",
        f"- Fire drills of the paging pipeline (not counted here): {m['fire_drills']}",
        f"- MTTA (time to acknowledge): {_duration(m['mtta_seconds'])}",
        f"- MTTR (time to resolve): {_duration(m['mttr_seconds'])}",
        "",
        "| Severity | MTTA | MTTR |",
        "|---|---|---|",
        *[f"| {s} | {_duration(m['mtta_seconds_by_severity'][s])} | {_duration(m['mttr_seconds_by_severity'][s])} |"
          for s in SEVERITIES],
        "",
        "## Automated actions",
        *([f"- {k}: {n}" for k, n in m["automated_actions"].items()] or ["- none"]),
        f"- Outcomes of executed actions: {', '.join(f'{k}: {n}' for k, n in m['action_outcomes'].items()) or 'none'}",
        "",
        "## Availability and error budget",
        f"- Availability: {m['availability_percent']} % (target {m['availability_target']} %)",
        f"- Downtime (P0 open): {_duration(m['downtime_seconds'])}",
        f"- Error budget: {_duration(m['error_budget_seconds'])}, remaining {_duration(m['error_budget_remaining_seconds'])}"
        + (" — EXHAUSTED" if m["error_budget_remaining_seconds"] < 0 else ""),
        "",
        "## Backups",
        f"- {m['backup']['summary'] if m['backup'] else 'no backup verification on record'}",
        "",
        "_Definitions: MTTA over incidents opened and acknowledged in the period; MTTR over incidents resolved in "
        "it; downtime is the time a P0 was open; the error budget is (100 − target) % of the period._",
    ]
    return "\n".join(lines) + "\n"


def render_incident_report(incident: dict[str, Any]) -> str:
    """The runbook's Internal Communication template, filled from the ledger."""
    status = {"OPEN": "Investigating", "ACKNOWLEDGED": "Identified", "RESOLVED": "Resolved"}[incident["status"]]
    lines = [
        "## Incident Report",
        "",
        f"**Incident ID:** {incident['id']}",
        f"**Severity:** {incident['severity']}",
        f"**Status:** {status}",
        f"**Start Time:** {incident['opened_at'][:16].replace('T', ' ')} UTC",
        f"**Affected Systems:** {incident.get('component', 'unknown')}",
        f"**Impact:** {incident.get('impact', 'unknown')}",
        "",
        "### Current Status",
    ]
    if incident.get("resolved_at"):
        lines.append(f"- Resolved at {incident['resolved_at'][:16].replace('T', ' ')} UTC after "
                     f"{_duration(incident.get('time_to_resolve_seconds'))}")
    if incident.get("acknowledged_at"):
        lines.append(f"- Acknowledged by {incident.get('acknowledged_by')} at "
                     f"{incident['acknowledged_at'][:16].replace('T', ' ')} UTC")
    lines += [f"- Alarm: {quoted(incident.get('alarm_name'), 255)} ({incident.get('occurrences', 1)} occurrences)",
              f"- Classified by: {incident.get('classified_by')}; config version {incident.get('config_version')}",
              "", "### Timeline"]
    lines += [f"- {e['at'][:19].replace('T', ' ')} {e['event']}" + (f": {quoted(e['reason'], 500)}" if e.get("reason") else "")
              + (f" → {e['to']}" if e.get("to") else "") for e in incident.get("timeline", [])]
    lines += ["", "### Next Steps"]
    lines += (["- Conduct post-mortem review", "- Record the root cause and prevention measures"]
              if incident["status"] == "RESOLVED" else
              ["- Complete root cause analysis", "- Implement temporary mitigation", "- Deploy permanent fix",
               "- Conduct post-mortem review"])
    return "\n".join(lines) + "\n"
