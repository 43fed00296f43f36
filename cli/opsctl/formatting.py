"""Human-readable views of ledger items for `opsctl`."""

from __future__ import annotations

from typing import Any


def incident_table(incidents: list[dict[str, Any]]) -> str:
    header = f"{'ID':<14} {'SEV':<4} {'STATUS':<13} {'OPENED (UTC)':<20} {'RESOLVED (UTC)':<20} ALARM"
    rows = [
        f"{i['id']:<14} {i['severity']:<4} {i['status']:<13} {i['opened_at'][:19]:<20} "
        f"{(i.get('resolved_at') or '-')[:19]:<20} {i['alarm_name']}"
        for i in incidents
    ]
    return "\n".join([header, *rows]) if rows else "no incidents"


def incident_detail(incident: dict[str, Any]) -> str:
    fields = ["id", "severity", "status", "alarm_name", "component", "impact", "classified_by", "remediation",
              "opened_at", "last_seen_at", "occurrences", "acknowledged_by", "acknowledged_at", "resolved_at",
              "time_to_resolve_seconds", "previous_incident", "config_version"]
    lines = [f"{name:>24}: {incident[name]}" for name in fields if incident.get(name) is not None]
    lines.append("                timeline:")
    lines += [f"  {entry['at']}  {entry['event']:<13} {entry.get('via') or entry.get('by') or ''}  "
              f"{entry.get('reason', '')}".rstrip() for entry in incident.get("timeline", [])]
    return "\n".join(lines)


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
