"""Human-readable views of ledger items for `opsctl`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from controlplane.clock import parse_timestamp
from controlplane.text import safe_text, sparkline


def incident_table(incidents: list[dict[str, Any]], now: datetime, *, resolved_too: bool) -> str:
    """Newest first: age (open for how long), owner (assigned or acknowledging), ack state."""
    if not incidents:
        return "no incidents" if resolved_too else "nothing open or acknowledged (--all for resolved ones)"
    header = f"{'ID':<14} {'SEV':<4} {'STATUS':<13} {'AGE':>7}  {'OWNER':<14} {'OPENED (UTC)':<20} ALARM"
    rows = [f"{i['id']:<14} {i['severity']:<4} {i['status']:<13} {_age(i, now):>7}  "
            f"{(i.get('assigned_to') or i.get('acknowledged_by') or '-')[:14]:<14} {i['opened_at'][:19]:<20} "
            f"{i['alarm_name']}" for i in incidents]
    return "\n".join([header, *rows])


def _age(incident: dict[str, Any], now: datetime) -> str:
    """How long it has been open (or was, once resolved): 45m, 3h20m, 4d2h."""
    end = parse_timestamp(incident["resolved_at"]) if incident.get("resolved_at") else now
    minutes = max(int((end - parse_timestamp(incident["opened_at"])).total_seconds() // 60), 0)
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    return f"{days}d{hours}h" if days else f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"


def incident_detail(incident: dict[str, Any]) -> str:
    fields = ["id", "severity", "status", "alarm_name", "component", "impact", "classified_by", "remediation",
              "opened_at", "last_seen_at", "occurrences", "assigned_to", "acknowledged_by", "acknowledged_at",
              "resolved_at",
              "time_to_resolve_seconds", "previous_incident", "config_version"]
    lines = [f"{name:>24}: {incident[name]}" for name in fields if incident.get(name) is not None]
    lines.append("                timeline:")
    lines += [f"  {entry['at']}  {entry['event']:<13} {entry.get('via') or entry.get('by') or ''}  "
              f"{entry.get('reason') or entry.get('to') or ''}".rstrip() for entry in incident.get("timeline", [])]
    if "pages" in incident:
        lines.append("                   pages:")
        lines += [f"  {page['committed_at']}  {page['severity']:<4} {_sent(page)}  {page['subject']}"
                  for page in incident["pages"]] or ["  none on record (the outbox keeps 7 days)"]
        lines.append("               decisions:")
        lines += [f"  {d['decided_at']}  {d['id']}  {d['action']} {d['result']} ({d['decided_by']}): {d['reason']}"
                  for d in incident["decisions"]] or ["  none"]
    return "\n".join(lines)


def _sent(page: dict[str, Any]) -> str:
    return f"sent {page['sent_at']}" if page.get("sent_at") else "NOT SENT YET           "


def decision_table(decisions: list[dict[str, Any]]) -> str:
    header = f"{'ID':<21} {'DECIDED (UTC)':<20} {'ACTION':<10} {'RESULT':<9} {'BY':<22} REASON"
    rows = [f"{d['id']:<21} {d['decided_at'][:19]:<20} {d['action']:<10} {d['result']:<9} {d['decided_by'][:22]:<22} "
            f"{d['reason']}" for d in decisions]
    return "\n".join([header, *rows]) if rows else "no decisions"


def decision_detail(decision: dict[str, Any]) -> str:
    keys = ["id", "capability", "action", "target", "verdict", "result", "reason", "decided_at", "decided_by", "mode",
            "config_version", "incident", "trigger", "inputs", "thresholds", "details", "outcome"]
    return "\n".join(f"{key:>15}: {decision[key]}" for key in keys if decision.get(key) not in (None, {}, ""))


def drill_result(result: dict[str, Any]) -> str:
    lines = [f"Fire drill {result['drill_id']} ({result['started_by']}): {result['outcome']} — {result['reason']}",
             f"incident: {result.get('incident') or '-'}"]
    lines += [f"  {hop['hop']:<17} {hop['seconds']:>8.3f} s" for hop in result["hops"]]
    return "\n".join(lines)


def metric_table(series: list[dict[str, Any]]) -> str:
    """One line per alarm: its metric's last values as a sparkline, the latest against the threshold."""
    lines = [f"{'ALARM':<40} {'LATEST':>10} {'THRESHOLD':>10}  LAST VALUES"]
    for metric in series:
        values = [value for _, value in metric["points"]]
        latest = f"{values[-1]:g}" if values else "no data"
        lines.append(f"{safe_text(metric['alarm'], 40):<40} {latest:>10} {metric['threshold']:>10g}  "
                     f"{sparkline(values[-36:])}")
    return "\n".join(lines)
