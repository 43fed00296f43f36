"""`opsctl investigate INC-…`: the runbook's alert:investigate in one screen — the alarm's recent
history, the deployments of the hours before it, the application's top errors and its metric
around the incident."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from controlplane.clock import isoformat, parse_timestamp
from controlplane.config import ControlPlaneConfig
from controlplane.ledger import IncidentLedger
from controlplane.text import safe_text, sparkline
from opsctl.logs import error_lines
from opsctl.story import metric_around

# How far back "recent" reaches: changes and deployments in the hours before the incident opened.
LOOKBACK = timedelta(hours=6)


def investigation(cloudwatch: Any, ledger: IncidentLedger, deployments: Any, targets: list[str],
                  config: ControlPlaneConfig, incident: dict[str, Any], now: datetime, *,
                  emulated: bool, errors: dict[str, Any]) -> dict[str, Any]:
    since = parse_timestamp(incident["opened_at"]) - LOOKBACK
    return {
        "incident": {k: incident.get(k) for k in ("id", "severity", "status", "alarm_name", "component", "impact",
                                                   "opened_at", "resolved_at")},
        "alarm_history": alarm_history(cloudwatch, ledger, incident["alarm_name"], since, now, emulated=emulated),
        "deployments": [entry | {"target": target} for target in targets
                        for entry in deployments.history_with_status(target) if entry["deployed_at"] >= isoformat(since)],
        "top_errors": errors,
        "metric": metric_around(cloudwatch, config, incident, now),
    }


def alarm_history(cloudwatch: Any, ledger: IncidentLedger | None, alarm: str, since: datetime, now: datetime, *,
                  emulated: bool) -> list[dict[str, str]]:
    """The alarm's state changes since `since`, newest first: CloudWatch's own history; in the replay
    state (the emulator keeps none) the ledger's incidents on it, opened and resolved."""
    if emulated:
        assert ledger is not None, "the replay state's alarm history is the ledger's"
        changes = []
        for incident in ledger.iter_incidents(opened_since=isoformat(since)):
            if incident["alarm_name"] != alarm:
                continue
            changes.append({"at": incident["opened_at"], "summary": f"ALARM ({incident['id']} opened)"})
            if incident.get("resolved_at"):
                changes.append({"at": incident["resolved_at"], "summary": f"OK ({incident['id']} resolved)"})
        return sorted(changes, key=lambda change: change["at"], reverse=True)
    items = cloudwatch.describe_alarm_history(AlarmName=alarm, HistoryItemType="StateUpdate", StartDate=since,
                                              EndDate=now, ScanBy="TimestampDescending", MaxRecords=20)
    return [{"at": isoformat(item["Timestamp"]), "summary": safe_text(item["HistorySummary"], 200)}
            for item in items["AlarmHistoryItems"]]


def render(found: dict[str, Any]) -> str:
    incident = found["incident"]
    lines = [f"{incident['id']} [{incident['severity']}] {incident['status']}: {safe_text(incident['alarm_name'], 100)}",
             f"  component {incident['component']}; impact: {safe_text(incident['impact'], 200)}",
             f"  opened {incident['opened_at'][:19]}" + (f", resolved {incident['resolved_at'][:19]}"
                                                          if incident.get("resolved_at") else ", still open"),
             "", f"Alarm history (from {int(LOOKBACK.total_seconds() // 3600)} h before it opened, newest first):"]
    lines += [f"  {change['at'][:19]}  {change['summary']}" for change in found["alarm_history"]] or ["  none"]
    lines += ["", "Deployments in that time:"]
    lines += [f"  {d['deployed_at'][:19]}  {d['target']} {d['version']} by {d['deployed_by']} ({d['status']})"
              for d in found["deployments"]] or ["  none"]
    lines += ["", f"Top errors in the application's logs while it lasted ({found['top_errors']['status']}):"]
    lines += error_lines(found["top_errors"])
    metric = found["metric"]
    lines += ["", "Metric around it:"]
    if metric is None:
        lines.append("  no metric is known for this alarm")
    elif not metric["points"]:
        lines.append(f"  {metric['label']}: no datapoints")
    else:
        values = [value for _, value in metric["points"]]
        lines.append(f"  {metric['label']}: {sparkline(values[-60:])} min {min(values):g}, max {max(values):g}, "
                     f"threshold {metric['threshold']:g}")
    return "\n".join(lines)
