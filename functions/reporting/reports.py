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
from controlplane.text import quoted, sparkline
from trends import PATTERN_CHANGE_PERCENT, render_trends

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
        # With an organization: where they opened, busiest first (the hub's own included).
        **({"opened_by_account": dict(Counter(policy.organization.where(i.get("account", policy.account),
                                                                        i.get("region", policy.region))
                                              for i in opened).most_common())}
           if policy.organization.enabled else {}),
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
        *([f"- Opened by account and Region: {', '.join(f'{where}: {n}' for where, n in m['opened_by_account'].items())}"]
          if m.get("opened_by_account") else []),
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
        *(["## Performance trends (P3: usage pattern changes)",
           f"Each alarm's metric over the period against the period before; a change of "
           f"{PATTERN_CHANGE_PERCENT:g} % or more is a pattern change.", "",
           *render_trends(m["performance_trends"]), ""] if m.get("performance_trends") is not None else []),
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
    where = f" in account {incident['account']} {incident['region']}" if incident.get("account") else ""
    lines += [f"- Alarm: {quoted(incident.get('alarm_name'), 255)}{where} ({incident.get('occurrences', 1)} occurrences)",
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


def render_postmortem(story: dict[str, Any], metric: dict[str, Any] | None, policy: Policy) -> str:
    """A post-mortem draft (`opsctl incident analyze`): the runbook's Internal Communication header,
    then the merged timeline (transitions, pages, decisions, humans), what the automation did and
    why, the alarm's metric around the incident and the questions the record itself raises.
    `metric`: {"label", "threshold", "points": [(iso time, value), …]} or None (no metric known)."""
    incident = story
    severity = incident["severity"]
    opened = parse_timestamp(incident["opened_at"])
    ack_target = policy.severities[severity].response_minutes * 60
    resolve_target = policy.escalation.resolve_minutes[severity] * 60
    acknowledged = _seconds_between(incident["opened_at"], incident.get("acknowledged_at"))
    resolved = incident.get("time_to_resolve_seconds")
    lines = [
        f"# Post-mortem draft: {incident['id']}",
        "",
        f"**Incident ID:** {incident['id']}",
        f"**Severity:** {severity}",
        f"**Status:** {incident['status'].title()}",
        f"**Start Time:** {_minute(incident['opened_at'])} UTC",
        f"**End Time:** {_minute(incident['resolved_at']) + ' UTC' if incident.get('resolved_at') else 'still open'}",
        f"**Affected Systems:** {incident.get('component', 'unknown')}",
        f"**Impact:** {quoted(incident.get('impact'), 500)}",
        f"**Detected by:** {quoted(incident.get('alarm_name'), 255)} (classified by {incident.get('classified_by')})",
        f"**Acknowledged after:** {_duration(acknowledged)} (target {_duration(ack_target)}, "
        + _verdict(acknowledged, ack_target, resolved) + ")",
        f"**Resolved after:** {_duration(resolved)} (target {_duration(resolve_target)}, "
        + _verdict(resolved, resolve_target, None) + ")",
        "",
        "## Timeline (UTC)",
    ]
    events = [(e["at"], f"{e['event']}" + (f" by {e['by']}" if e.get("by") else "")
               + (f": {quoted(e['reason'], 300)}" if e.get("reason") else "") + (f" → {e['to']}" if e.get("to") else "")
               + (f": page held back ({e['held_back_by']}) {quoted(e.get('subject'), 100)}" if e.get("held_back_by") else ""))
              for e in incident.get("timeline", [])]
    events += [(p["committed_at"], f"page [{p['severity']}] {quoted(p['subject'], 100)}: "
                + (f"sent {_minute(p['sent_at'])}" if p.get("sent_at") else "not sent")) for p in story.get("pages", [])]
    events += [(d["decided_at"], f"automation: {d['action']} {d['target']} {d['result']} ({quoted(d['reason'], 200)})")
               for d in story.get("decisions", [])]
    lines += [f"- {at[:19].replace('T', ' ')} {text}" for at, text in sorted(events)]
    lines += ["", "## What the automation did"]
    decisions = story.get("decisions", [])
    lines += [f"- {d['action']} on {d['target']}: {d['verdict']} → {d['result']}, by {d['decided_by']} — "
              f"{quoted(d['reason'], 300)}" for d in decisions] or [
                  "- No decision recorded: no remediation applied to it, or none had anything to act on."]
    lines += ["", "## Metrics around the incident"]
    if metric is None or not metric["points"]:
        lines.append(f"- {metric['label'] if metric else 'No metric is known for this alarm'}: no datapoints "
                     "from an hour before it opened to an hour after it ended.")
    else:
        values = [value for _, value in metric["points"]]
        lines += [f"- {metric['label']}, {metric['points'][0][0][:16]} → {metric['points'][-1][0][:16]} UTC",
                  f"- `{sparkline(values)}` min {min(values):g}, max {max(values):g}, threshold {metric['threshold']:g}"]
    lines += ["", "## Open questions", "- What was the root cause, and what will stop it happening again?"]
    lines += _questions(incident, opened, acknowledged, ack_target, decisions)
    lines += ["", "## Action items", "- [ ] Root cause fix (owner, date)", "- [ ] Detection or runbook change (owner, date)",
              "", "_Draft generated from the ledger by `opsctl incident analyze`; edit before the review._"]
    return "\n".join(lines) + "\n"


def _questions(incident: dict[str, Any], opened: datetime, acknowledged: float | None, ack_target: int,
               decisions: list[dict[str, Any]]) -> list[str]:
    """What the record itself asks: a late or missing acknowledgement, escalations, a quick re-fire,
    automation that stood aside, a human closing what its alarm still called a problem."""
    questions = []
    ended_first = incident.get("time_to_resolve_seconds") is not None and incident["time_to_resolve_seconds"] <= ack_target
    if acknowledged is None:
        if not ended_first:
            questions.append("- It was never acknowledged: did the page reach anyone?")
    elif acknowledged > ack_target:
        questions.append(f"- It was acknowledged after {_duration(acknowledged)} (target {_duration(ack_target)}): why?")
    if incident.get("escalation_level"):
        questions.append(f"- It escalated to level {incident['escalation_level']}: who was paged, and was that right?")
    if incident.get("flaps"):
        questions.append(f"- It flapped: reopened {incident['flaps']} time(s) within minutes of resolving (its pages "
                         "damped). Is the threshold too tight, or the cause unstable?")
    if incident.get("previous_incident"):
        questions.append(f"- It re-fired within an hour of {incident['previous_incident']}: flapping, or a cause "
                         "left in place?")
    # Once per distinct reason: a flapping incident's reopenings each decide again, alike.
    questions += list(dict.fromkeys(f"- The automation did not act ({d['action']} on {d['target']}: "
                                    f"{quoted(d['reason'], 200)}): was that right?"
                                    for d in decisions if d["result"] != "executed"))
    resolved_by_hand = [e for e in incident.get("timeline", []) if e.get("event") == "resolved" and e.get("by")]
    questions += [f"- Resolved by {e['by']} while its alarm was {e.get('alarm_state') or 'unknown'}: is the alarm "
                  "still right?" for e in resolved_by_hand]
    if incident.get("classified_by", "").startswith("human:"):
        questions.append(f"- A human saw it first ({incident['classified_by']}, at {_minute(opened.isoformat())}): "
                         "which alarm should have?")
    return questions


def _verdict(took: float | None, target: int, ended_after: float | None) -> str:
    """Met or missed; an acknowledgement never due (the incident ended within its deadline) is neither."""
    if took is None:
        return "ended before it was due" if ended_after is not None and ended_after <= target else "missed"
    return "met" if took <= target else "missed"


def _seconds_between(start: str, end: str | None) -> float | None:
    return (parse_timestamp(end) - parse_timestamp(start)).total_seconds() if end else None


def _minute(at: str) -> str:
    return at[:16].replace("T", " ")
