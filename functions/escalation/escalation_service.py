"""The runbook's escalation matrix, on a clock.

Every incident gets two one-time schedules when it opens (both delete themselves after running):
its acknowledgement deadline (response time: P0 15 min, P1 1 h, P2 4 h, P3 24 h) and its resolution
target. Unacknowledged at the deadline, it pages the next level up the matrix — the topic of the
next severity, whose contacts are that level (P3 Team Lead → P2 Product Owner → P1 Tech Lead → P0
Immediate; P0 pages Immediate again) — and re-arms at that level's response time, until
`escalation.max_levels`. Still open at its resolution target, acknowledged or not, it escalates
again. `opsctl incident ack` (or an acknowledgement in PagerDuty) cancels the pending deadline.
Once PagerDuty has taken an incident's trigger, its escalation policy owns the acknowledgement
clock and ours stands down; the resolution target stays ours (PagerDuty has no such clock). Every
escalation is one transaction: the incident's level and timeline entry, conditional on the level
before, and the page in the outbox, so a redelivered deadline never pages twice.

Triggers:
  ops bus "Incident Opened"                          → arm both schedules
  {"task": "ack-deadline", "incident", "level", "at"} → escalate if still unacknowledged
  {"task": "resolve-deadline", "incident", "at"}      → escalate if still open
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from controlplane.clock import isoformat, parse_timestamp
from controlplane.errors import IncidentNotFound, MalformedEvent
from controlplane.events import INCIDENT_OPENED, OPS_SOURCE
from controlplane.ledger import IncidentLedger
from controlplane.remediation import action_note
from controlplane.runtime import Dependencies
from controlplane.settings import SEVERITIES

# Incidents whose severity no one chose (classified_by → how a page says so): the configured
# default, and storms' parents.
UNCLASSIFIED = {"default": "unclassified", "storm": "a storm"}


def _incident_note(kind: str, incident: str, result: str, reason: str) -> dict[str, Any]:
    return action_note(kind, incident, result, reason, incident)


def next_level(severity: str) -> str:
    """One step up the matrix; P0 (Immediate) is the top and pages itself again."""
    return SEVERITIES[max(SEVERITIES.index(severity) - 1, 0)]


def ack_schedule(incident_id: str, level: int, due: datetime) -> str:
    """Named by its due time too: a schedule still exists while its own invocation runs (Scheduler
    deletes it after), so re-arming the same level needs a new name."""
    return f"ack-{incident_id}-{level}-{int(due.timestamp())}"


class EscalationService:
    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps
        self.policy = deps.policy
        self.ledger = deps.repository(IncidentLedger)

    def handle(self, event: Any) -> list[dict[str, Any]]:
        if not isinstance(event, dict):
            raise MalformedEvent("not an escalation trigger")
        if event.get("source") == OPS_SOURCE and event.get("detail-type") == INCIDENT_OPENED:
            return [self.arm(event["detail"])]
        task = event.get("task")
        if task == "ack-deadline":
            return [self.ack_deadline(str(event["incident"]), int(event["level"]))]
        if task == "resolve-deadline":
            return [self.resolve_deadline(str(event["incident"]))]
        raise MalformedEvent(f"not an escalation trigger: task={task!r} detail-type={event.get('detail-type')!r}")

    # --- arming ---------------------------------------------------------------------------------

    def arm(self, detail: dict[str, Any]) -> dict[str, Any]:
        if detail.get("parent"):
            if not detail.get("arm_parent"):
                return _incident_note("escalation.arm", detail["incident_id"], "skipped",
                                      f"grouped under {detail['parent']}, which escalates for it")
            # A storm's parent opened (or its severity rose) with this child: the parent's deadlines.
            detail = {"incident_id": detail["parent"], "ack_due_at": detail.get("parent_ack_due_at"),
                      "resolve_due_at": detail.get("parent_resolve_due_at")}
        incident_id = detail["incident_id"]
        if not detail.get("ack_due_at") or not detail.get("resolve_due_at"):
            # Announced by a triage that predates the escalation matrix (archive replays, a rollout).
            return _incident_note("escalation.arm", incident_id, "skipped", "the incident carries no deadlines")
        ack_due, resolve_due = parse_timestamp(detail["ack_due_at"]), parse_timestamp(detail["resolve_due_at"])
        self._rearm(incident_id, 1, ack_due)
        self._schedule(f"resolve-{incident_id}", resolve_due, {"task": "resolve-deadline", "incident": incident_id,
                                                                "at": detail["resolve_due_at"]})
        return _incident_note("escalation.arm", incident_id, "executed",
                     f"acknowledge by {detail['ack_due_at']}, resolve by {detail['resolve_due_at']}")

    def regraded(self, incident: dict[str, Any]) -> None:
        """A human re-graded the incident, which moved its deadlines: arm them at their new times. A
        deadline armed before that now comes early re-arms itself when it fires, or stands down."""
        if incident["status"] == "OPEN":
            level = int(incident.get("escalation_level", 0)) + 1
            self._rearm(incident["id"], level, self._due(incident, level))
        due = parse_timestamp(incident["resolve_due_at"])
        self._schedule(f"resolve-{incident['id']}-{int(due.timestamp())}", due, {
            "task": "resolve-deadline", "incident": incident["id"], "at": incident["resolve_due_at"]})

    def _schedule(self, name: str, at: datetime, payload: dict[str, Any]) -> None:
        # A deadline already past (a late delivery) fires in a minute rather than never.
        self.deps.schedule(name, max(at, self.deps.clock.now() + timedelta(minutes=1)), payload)

    def cancel(self, *incident_ids: str) -> None:
        """Delete the pending acknowledgement deadlines of these incidents (opsctl ack), in one
        listing; gone already is fine, and one that fires anyway finds the acknowledgement and stands
        down."""
        scheduler = self.deps.client("scheduler")
        group = self.deps.settings.schedule_group
        prefix = f"ack-{incident_ids[0]}-" if len(incident_ids) == 1 else "ack-"
        pages = scheduler.get_paginator("list_schedules").paginate(GroupName=group, NamePrefix=prefix)
        for schedule in (s for page in pages for s in page["Schedules"]):
            # ack-<incident>-<level>-<due>
            if schedule["Name"].removeprefix("ack-").rsplit("-", 2)[0] not in incident_ids:
                continue
            try:
                scheduler.delete_schedule(Name=schedule["Name"], GroupName=group)
            except scheduler.exceptions.ResourceNotFoundException:
                pass

    def acknowledge(self, incident_id: str, by: str) -> dict[str, Any]:
        """Acknowledged, and its deadlines cancelled; a storm's parent for its children too (one of
        them, its burst's first, had deadlines of its own before it was grouped)."""
        incident = self.ledger.acknowledge(incident_id, by, isoformat(self.deps.clock.now()), self.deps.settings.ops_bus_name)
        self.cancel(incident_id, *incident.get("children", []))
        return incident

    # --- deadlines ------------------------------------------------------------------------------

    def ack_deadline(self, incident_id: str, level: int) -> dict[str, Any]:
        incident = self._incident(incident_id)
        if incident is None:
            return _incident_note("escalation.ack", incident_id, "skipped", "no such incident")
        current = int(incident.get("escalation_level", 0))
        if incident["status"] != "OPEN":
            return _incident_note("escalation.ack", incident_id, "skipped", f"{incident['status'].lower()}: nothing to escalate")
        if incident.get("parent"):
            return _incident_note("escalation.ack", incident_id, "skipped", f"grouped under {incident['parent']}, "
                                                                           "which escalates for it")
        if incident.get("pagerduty_triggered_at"):
            # PagerDuty took the trigger: its escalation policy pages until someone acknowledges, and
            # the acknowledgement comes back here (its webhook). Escalating too would page twice.
            return _incident_note("escalation.ack", incident_id, "skipped",
                                  f"PagerDuty escalates it (trigger accepted at {incident['pagerduty_triggered_at']})")
        if current >= level:
            return _incident_note("escalation.ack", incident_id, "skipped", f"level {level} already escalated (redelivery)")
        if current < level - 1:
            return _incident_note("escalation.ack", incident_id, "skipped", f"level {level - 1} was never escalated")
        due = self._due(incident, level)
        now = self.deps.clock.now()
        if now < due:
            # Early (a clock or an extension moved it): come back at the deadline itself.
            self._rearm(incident_id, level, due)
            return _incident_note("escalation.ack", incident_id, "skipped", f"not due until {isoformat(due)}")
        if incident.get("suppressed_by") and not incident.get("paged_after_window"):
            # Nobody was paged yet: a maintenance window holds the page back. Its end re-checks the
            # alarm and pages; the acknowledgement clock starts over from there.
            self._rearm(incident_id, level, now + self._response(incident["severity"]))
            return _incident_note("escalation.ack", incident_id, "skipped",
                         f"page held back by maintenance window {incident['suppressed_by']}: deferred")
        return self._escalate(incident, level, reason=f"unacknowledged {self._age(incident, now)} after opening")

    def resolve_deadline(self, incident_id: str) -> dict[str, Any]:
        incident = self._incident(incident_id)
        if incident is None or incident["status"] == "RESOLVED":
            return _incident_note("escalation.resolve", incident_id, "skipped", "resolved: nothing to escalate")
        if incident.get("resolution_escalated_at"):
            return _incident_note("escalation.resolve", incident_id, "skipped", "already escalated for its resolution target")
        if incident.get("parent"):
            return _incident_note("escalation.resolve", incident_id, "skipped", f"grouped under {incident['parent']}, "
                                                                               "which escalates for it")
        due = parse_timestamp(incident["resolve_due_at"])
        if self.deps.clock.now() < due:  # a re-grade moved it later: the deadline armed then will come
            return _incident_note("escalation.resolve", incident_id, "skipped", f"not due until {incident['resolve_due_at']}")
        level = int(incident.get("escalation_level", 0)) + 1
        target = self.policy.escalation.resolve_minutes[incident["severity"]]
        return self._escalate(incident, level, reason=f"still {incident['status']} past its resolution target "
                                                      f"({target} min)", resolution=True)

    # --- escalating -----------------------------------------------------------------------------

    def _escalate(self, incident: dict[str, Any], level: int, *, reason: str, resolution: bool = False) -> dict[str, Any]:
        incident_id, severity = incident["id"], incident["severity"]
        previous = int(incident.get("escalation_level", 0))
        paged = severity
        # The resolution target's escalation may come after the last level: it pages that one again.
        for _ in range(min(level, self.policy.escalation.max_levels)):
            paged = next_level(paged)
        capped = ""
        if incident.get("classified_by") in UNCLASSIFIED:
            # Nobody classified it (a default severity, or a storm we grouped): it must not climb to
            # the top of the matrix on its own (never below its own severity, though). "P0" sorts
            # before "P1": min is higher. The ceiling is paged once; paging the same people again
            # for it adds noise, not help (a storm's parent pages its own updates).
            ceiling = max(paged, min(self.policy.escalation.max_unclassified_severity, severity))
            capped = f"; {UNCLASSIFIED[incident['classified_by']]}, so no higher than {ceiling}" if ceiling != paged else ""
            if capped and incident.get("escalated_to") == ceiling:
                return _incident_note("escalation.page", incident_id, "skipped",
                                      f"L{level}: {ceiling} (its ceiling) was paged already{capped}")
            paged = ceiling
        role = self.policy.severities[paged].escalation
        now = isoformat(self.deps.clock.now())
        entry = {"at": now, "event": "escalated", "level": level, "to": f"{paged} ({role})", "reason": reason}
        notification = {
            "severity": paged,
            "subject": f"[{paged}] ESCALATION L{level}: {incident_id} {reason}"[:100],
            "message": _message(incident, level, paged, role, reason),
            "attributes": {"kind": "escalation", "severity": paged, "incident": incident_id, "level": level},
        }
        max_levels = self.policy.escalation.max_levels
        if not resolution and incident["status"] == "OPEN" and level < max_levels:
            # The next level is armed before this one is recorded: a crash after the record cannot
            # end the chain. If the record then fails (acknowledged, resolved or escalated meanwhile),
            # that deadline finds so when it fires and stands down.
            self._rearm(incident_id, level + 1, self.deps.clock.now() + self._response(paged))
        if not self.ledger.escalate(incident_id, level=level, previous=previous, to=paged, entry=entry, at=now,
                                    resolution=resolution, notification=notification):
            return _incident_note("escalation.page", incident_id, "skipped", "changed meanwhile (resolved, or escalated already)")
        stop = ("" if level < max_levels else f"; last level ({max_levels})" if level == max_levels
                else f"; past the last level ({max_levels}): {paged} paged again")
        return _incident_note("escalation.page", incident_id, "executed", f"L{level} → {paged} ({role}): {reason}{stop}{capped}")

    def _rearm(self, incident_id: str, level: int, at: datetime) -> None:
        self._schedule(ack_schedule(incident_id, level, at), at, {"task": "ack-deadline", "incident": incident_id,
                                                              "level": level, "at": isoformat(at)})

    def _due(self, incident: dict[str, Any], level: int) -> datetime:
        if level == 1:
            return parse_timestamp(incident["ack_due_at"])
        # Later levels are due one response time of the level last paged after that page.
        return parse_timestamp(incident["escalated_at"]) + self._response(incident["escalated_to"])

    def _response(self, severity: str) -> timedelta:
        return timedelta(minutes=self.policy.severities[severity].response_minutes)

    def _incident(self, incident_id: str) -> dict[str, Any] | None:
        try:
            return self.ledger.get_incident(incident_id)
        except IncidentNotFound:
            return None

    @staticmethod
    def _age(incident: dict[str, Any], now: datetime) -> str:
        minutes = int((now - parse_timestamp(incident["opened_at"])).total_seconds() // 60)
        return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def _message(incident: dict[str, Any], level: int, paged: str, role: str, reason: str) -> str:
    return "\n".join([
        f"## Escalation level {level}: {incident['id']}",
        "",
        f"**Severity:** {incident['severity']}",
        f"**Status:** {incident['status']}",
        f"**Start Time:** {incident['opened_at'][:16].replace('T', ' ')} UTC",
        f"**Affected Systems:** {incident.get('component', 'unknown')}",
        f"**Impact:** {incident.get('impact', 'unknown')}",
        "",
        f"Escalated to {role} ({paged} contacts): {reason}.",
        f"Acknowledge: `opsctl incident ack {incident['id']}`",
    ])

