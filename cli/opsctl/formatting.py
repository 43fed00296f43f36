"""Human-readable views of ledger items for `opsctl`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from controlplane.clock import parse_timestamp
from controlplane.text import safe_text, sparkline

# Tables fit a 100-column terminal: the last column (alarm name, reason) takes what is left, clipped
# with "…"; `--json`, `show` and `decisions show` have everything.
WIDTH = 100


def incident_table(incidents: list[dict[str, Any]], now: datetime, *, resolved_too: bool,
                   where: Callable[[str, str], str | None] | None = None) -> str:
    """Newest first: age (open for how long), owner (assigned or acknowledging), ack state; with an
    organization, `where` names a member account's alarm's account and Region (None: the hub's)."""
    if not incidents:
        return "no incidents" if resolved_too else "nothing open or acknowledged (--all for resolved ones)"
    header = f"{'ID':<12} {'SEV':<3} {'STATUS':<12} {'AGE':>6} {'OWNER':<12} {'OPENED(UTC)':<11} ALARM"
    rows = [f"{i['id']:<12} {i['severity']:<3} {i['status']:<12} {_age(i, now):>6} "
            f"{safe_text(i.get('assigned_to') or i.get('acknowledged_by') or '-', 12):<12} "
            f"{i['opened_at'][5:10]} {i['opened_at'][11:16]} " for i in incidents]
    return "\n".join([header, *(_fit(row, _alarm_column(i, where)) for row, i in zip(rows, incidents, strict=True))])


def _alarm_column(incident: dict[str, Any], where: Callable[[str, str], str | None] | None) -> str:
    """The alarm; a storm's parent says how many, a child which storm it is in; a member account's
    alarm first says where it is."""
    place = where(incident["account"], incident["region"]) if where and incident.get("account") else None
    alarm = f"{place}: {incident['alarm_name']}" if place else incident["alarm_name"]
    if incident.get("kind") == "storm":
        return f"{alarm} ({incident.get('occurrences')} alarms, {incident.get('open_children')} open)"
    return f"{alarm} (in {incident['parent']})" if incident.get("parent") else alarm


def _fit(row: str, last: Any) -> str:
    """`row` and then `last`, as much of it as fits the width."""
    return row + safe_text(last, WIDTH - len(row))


def _age(incident: dict[str, Any], now: datetime) -> str:
    """How long it has been open (or was, once resolved): 45m, 3h20m, 4d2h."""
    end = parse_timestamp(incident["resolved_at"]) if incident.get("resolved_at") else now
    return _duration(end - parse_timestamp(incident["opened_at"]))


def _duration(elapsed: timedelta) -> str:
    minutes = max(int(elapsed.total_seconds() // 60), 0)
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    return f"{days}d{hours}h" if days else f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"


def incident_detail(incident: dict[str, Any]) -> str:
    fields = ["id", "severity", "status", "alarm_name", "account", "region", "component", "impact", "classified_by",
              "remediation",
              "opened_at", "last_seen_at", "occurrences", "flaps", "assigned_to", "acknowledged_by", "acknowledged_at",
              "resolved_at",
              "time_to_resolve_seconds", "previous_incident", "parent", "open_children", "config_version"]
    lines = [f"{name:>24}: {incident[name]}" for name in fields if incident.get(name) is not None]
    if incident.get("children"):
        lines.append(f"{'children':>24}: {', '.join(incident['children'])}")
    lines.append("                timeline:")
    lines += [f"  {entry['at']}  {entry['event']:<13} {entry.get('via') or entry.get('by') or ''}  "
              f"{entry.get('reason') or entry.get('to') or _held_back(entry) or _child(entry)}".rstrip()
              for entry in incident.get("timeline", [])]
    if "pages" in incident:
        lines.append("                   pages:")
        lines += [f"  {page['committed_at']}  {page['severity']:<4} {_sent(page)}  {page['subject']}"
                  for page in incident["pages"]] or ["  none on record (the outbox keeps 7 days)"]
        lines.append("               decisions:")
        lines += [f"  {d['decided_at']}  {d['id']}  {d['action']} {d['result']} ({d['decided_by']}): {d['reason']}"
                  for d in incident["decisions"]] or ["  none"]
    return "\n".join(lines)


def _held_back(entry: dict[str, Any]) -> str:
    """A page held back (by a window, CloudWatch's suppression, flap damping): by what, and which."""
    return f"page held back ({entry['held_back_by']}): {safe_text(entry.get('subject'))}" if entry.get("held_back_by") else ""


def _child(entry: dict[str, Any]) -> str:
    """A storm parent's entry about one of its incidents."""
    return f"{entry['incident']} {safe_text(entry.get('alarm'))}" if entry.get("incident") else ""


def _sent(page: dict[str, Any]) -> str:
    return f"sent {page['sent_at']}" if page.get("sent_at") else "NOT SENT YET           "


def decision_table(decisions: list[dict[str, Any]]) -> str:
    header = f"{'ID':<20} {'DECIDED(UTC)':<11} {'ACTION':<10} {'RESULT':<9} {'BY':<14} REASON"
    rows = [_fit(f"{d['id']:<20} {d['decided_at'][5:10]} {d['decided_at'][11:16]} {d['action'][:10]:<10} "
                 f"{d['result'][:9]:<9} {safe_text(d['decided_by'], 14):<14} ", d["reason"]) for d in decisions]
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


def coverage_row(where: str, item: dict[str, Any], now: datetime, *, configured: bool) -> dict[str, Any]:
    """One account × Region as the coverage check last judged it (`item`: its ledger record)."""
    last = item.get("last_heartbeat_at")
    return {"where": where, "configured": configured, "last_heartbeat_at": last,
            "heartbeat_age": _duration(now - parse_timestamp(last)) if last else None,
            "spoke_version": item.get("spoke_version"), "role_check": item.get("role_check"),
            "checked_at": item.get("checked_at"), "refused": int(item.get("refused") or 0),
            "state": ("watched" if item.get("state") == "OK" else "blind spot" if item.get("state") == "ALARM"
                      else "not checked yet") if configured else "not configured",
            "reason": item.get("reason")}


def coverage_table(rows: list[dict[str, Any]], quiet_minutes: int) -> str:
    header = f"{'ACCOUNT × REGION':<44} {'HEARTBEAT':>9} {'SPOKE':<12} {'ROLE':<5} STATE"
    lines = [header]
    for row in rows:
        role = "-" if row["role_check"] is None else "ok" if row["role_check"] == "ok" else "FAIL"
        state = row["state"] + (f": {row['refused']} heartbeats refused" if not row["configured"] else
                                f": {row['reason']}" if row["state"] == "blind spot" else "")
        lines.append(_fit(f"{safe_text(row['where'], 44):<44} {row['heartbeat_age'] or 'never':>9} "
                          f"{row['spoke_version'] or '-':<12} {role:<5} ", state))
    lines.append(f"(a pair is a blind spot after {quiet_minutes} min without a heartbeat, or when its role cannot be "
                 "assumed; ages as of now, states as of the last coverage check)")
    return "\n".join(lines)
