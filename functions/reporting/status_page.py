"""The public status page: the runbook's "Status Page Update" template, rendered from the ledger's
incidents and maintenance windows, with an HTML page for people and `status.json` for machines.

Anti-flap: a P0/P1 shows only once it has lasted `appear_after_minutes`; a component it affected
shows "Monitoring" after it resolves and turns Operational only after `calm_minutes` without one.
An incident resolved before it ever showed is never shown. Internal names (alarms, ids of other
systems) never reach the page: users see components, impact and times."""

from __future__ import annotations

import html
from datetime import datetime, timedelta
from typing import Any

from controlplane.clock import isoformat, parse_timestamp
from controlplane.events import BACKUP_COMPONENT, COVERAGE_COMPONENT, DRILL_COMPONENT
from controlplane.maintenance import Window
from controlplane.policy import Policy

PUBLIC_SEVERITIES = ("P0", "P1")
# The control plane's own findings about itself (backup checks, fire drills) are for on-call, not for users.
INTERNAL_COMPONENTS = (BACKUP_COMPONENT, DRILL_COMPONENT, COVERAGE_COMPONENT)
OTHER = "Other services"
# Worst first: a component shows the worst status among what affects it.
STATUSES = ("Investigating", "Identified", "Monitoring", "Maintenance", "Operational")
INCIDENT_STATUS = {"OPEN": "Investigating", "ACKNOWLEDGED": "Identified"}
HEADLINES = {"Investigating": "We are currently experiencing technical difficulties.",
             "Identified": "The issue has been identified and a fix is in progress.",
             "Monitoring": "A fix has been applied and we are monitoring the results.",
             "Maintenance": "Scheduled maintenance is in progress.",
             "Operational": "All systems operational."}


def _worse(a: str, b: str) -> str:
    return a if STATUSES.index(a) <= STATUSES.index(b) else b


def compute_status(incidents: list[dict[str, Any]], windows: list[Window], policy: Policy,
                   now: datetime) -> dict[str, Any]:
    appear = timedelta(minutes=policy.status_page.appear_after_minutes)
    calm = timedelta(minutes=policy.status_page.calm_minutes)
    components = {name: "Operational" for name in policy.components}
    shown: list[dict[str, Any]] = []
    for incident in incidents:
        if incident["severity"] not in PUBLIC_SEVERITIES or incident.get("component") in INTERNAL_COMPONENTS:
            continue
        if incident.get("parent"):
            continue  # a storm's incidents are one entry: their parent's
        opened = parse_timestamp(incident["opened_at"])
        resolved = parse_timestamp(incident["resolved_at"]) if incident.get("resolved_at") else None
        if (resolved or now) - opened < appear or opened > now:
            continue  # too short to show (or not yet long enough): no flapping in public
        if resolved is not None and (now - resolved >= calm or resolved > now):
            continue  # calm long enough: Operational again
        status = "Monitoring" if resolved is not None else INCIDENT_STATUS.get(incident["status"], "Investigating")
        # Components outside the configured ones (alarms from other stacks) go under one public name.
        component = str(incident.get("component")) if incident.get("component") in components else OTHER
        components[component] = _worse(components.get(component, "Operational"), status)
        shown.append({"status": status, "severity": incident["severity"], "component": component,
                      "impact": incident.get("impact") or "Some users may be affected",
                      "started_at": incident["opened_at"],
                      "estimated_resolution": None if resolved else incident.get("resolve_due_at")})
    maintenance = []
    for window in sorted(windows, key=lambda w: w.starts_at):
        if not window.is_active(now):
            continue
        affected = [c for c in components if window.covers("", c)] if window.components or window.alarms \
            else list(components)
        for component in affected:
            components[component] = _worse(components[component], "Maintenance")
        maintenance.append({"message": window.message, "until": window.ends_at, "components": affected})
    overall = "Operational"
    for status in components.values():
        overall = _worse(overall, status)
    return {"title": policy.status_page.title, "updated_at": isoformat(now), "status": overall,
            "components": [{"name": name, "status": status} for name, status in sorted(components.items())],
            "incidents": sorted(shown, key=lambda i: (STATUSES.index(i["status"]), i["started_at"])),
            "maintenance": maintenance}


def _when(at: str | None) -> str:
    return parse_timestamp(at).strftime("%Y-%m-%d %H:%M UTC") if at else "as soon as possible"


def render_html(status: dict[str, Any]) -> str:
    """The runbook's Status Page Update block per incident and window, with the component list."""
    esc = html.escape
    updates = []
    for incident in status["incidents"]:
        updates.append(_update("🔴" if incident["status"] == "Investigating" else "🟠",
                               f"{incident['component']}: {incident['impact']}", HEADLINES[incident["status"]],
                               incident["status"], _when(incident["estimated_resolution"])
                               if incident["status"] != "Monitoring" else "resolved, monitoring"))
    for window in status["maintenance"]:
        updates.append(_update("🔄", "System Maintenance", window["message"], "Maintenance", _when(window["until"])))
    rows = "\n".join(f'      <tr data-component="{esc(c["name"])}"><td>{esc(c["name"])}</td>'
                     f'<td class="status {esc(c["status"].lower())}">{esc(c["status"])}</td></tr>'
                     for c in status["components"])
    return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{esc(status['title'])}</title>
  <style>
    body {{ font-family: system-ui, sans-serif; max-width: 48rem; margin: 2rem auto; padding: 0 1rem; }}
    .overall {{ padding: 1rem; border-radius: .5rem; background: #e6f4ea; }}
    .overall.investigating, .overall.identified {{ background: #fce8e6; }}
    .overall.monitoring, .overall.maintenance {{ background: #fef7e0; }}
    .status-update {{ border: 1px solid #ddd; border-radius: .5rem; padding: 0 1rem; margin: 1rem 0; }}
    td {{ padding: .25rem 1rem .25rem 0; }}
  </style>
</head>
<body>
  <h1>{esc(status['title'])}</h1>
  <p id="overall" class="overall {esc(status['status'].lower())}" data-status="{esc(status['status'])}">
    <strong>{esc(status['status'])}</strong> — {esc(HEADLINES[status['status']])}</p>
{chr(10).join(updates)}
  <table id="components">
{rows}
  </table>
  <p><small>Updated {esc(_when(status['updated_at']))}. Machine-readable: <a href="status.json">status.json</a></small></p>
</body>
</html>
"""


def _update(icon: str, heading: str, message: str, status: str, eta: str) -> str:
    esc = html.escape
    return f"""  <div class="status-update" data-status="{esc(status)}">
    <h3>{icon} {esc(heading)}</h3>
    <p>{esc(message)}</p>
    <p><strong>Status:</strong> {esc(status)}</p>
    <p><strong>Estimated Resolution:</strong> {esc(eta)}</p>
    <p>We apologize for any inconvenience.</p>
  </div>"""
