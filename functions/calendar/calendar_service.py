"""The maintenance calendar: the runbook's scheduled tasks and windows, and `opsctl maintenance`.

Triggers (EventBridge Scheduler delivers its Input verbatim; `at` is its scheduled time):
  {"task": "<schedule name>", "at": …}     a configured schedule fired: a checklist, a window, or both
  {"task": "window-end", "window": …}     a window's end (one-time schedule; harmless if extended)
  {"task": "maintenance", "action": …}    opsctl: enable | disable | extend
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from checklists import TASKS, run_checklist
from controlplane.clock import isoformat, parse_timestamp
from controlplane.errors import MalformedEvent
from controlplane.events import BACKUP_COMPONENT
from controlplane.maintenance import Window
from controlplane.records import Runs
from controlplane.remediation import action_note
from controlplane.runtime import Dependencies
from controlplane.windows import WindowNotOpen
from maintenance_windows import MaintenanceWindows

logger = logging.getLogger("calendar")


class CalendarService:
    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps
        self.policy = deps.policy
        self.config = self.policy.maintenance
        self.windows = MaintenanceWindows(deps)

    def handle(self, event: Any) -> list[dict[str, Any]]:
        if not isinstance(event, dict) or not isinstance(event.get("task"), str):
            raise MalformedEvent("not a calendar trigger: expected {\"task\": …}")
        task = event["task"]
        if task == "window-end":
            return [self.end_window(str(event.get("window")))]
        if task == "maintenance":
            return [self.operator(event)]
        if task not in self.policy.schedules or (task not in TASKS and task not in self.config.windows):
            raise MalformedEvent(f"unknown calendar task {task!r}")
        at = parse_timestamp(event["at"]) if event.get("at") else self.deps.clock.now()
        results = []
        if task in self.config.windows:
            results.append(self.open_scheduled(task, at))
        if task in TASKS:
            results.append(self.checklist(task, at))
        return results

    # --- scheduled ------------------------------------------------------------------------------

    def open_scheduled(self, name: str, at: datetime) -> dict[str, Any]:
        spec = self.config.windows[name]
        local = at.astimezone(ZoneInfo(self.policy.timezone))
        ends = at + timedelta(minutes=spec.duration_minutes)
        window = Window(id=f"{name}-{local:%Y%m%d-%H%M}", message=spec.message, starts_at=isoformat(at),
                        ends_at=isoformat(ends), components=spec.components, alarms=spec.alarms,
                        opened_by="calendar", schedule=name)
        if self.deps.clock.now() >= ends:
            # Scheduler delivered it after the window would have ended: opening it now would pause
            # automation for nothing.
            return action_note("maintenance.open", window.id, "skipped", "delivered after the window's end")
        if not self.windows.open(window):
            return action_note("maintenance.open", window.id, "skipped", "already opened (redelivery)")
        return action_note("maintenance.open", window.id, "executed", f"until {window.ends_at}: {window.message}")

    def end_window(self, window_id: str) -> dict[str, Any]:
        record = self.windows.ledger.record(window_id)
        if record is None or record["status"] != "OPEN":
            return action_note("maintenance.close", window_id, "skipped", "not open (closed already or never opened)")
        if record["ends_at"] > isoformat(self.deps.clock.now()):
            return action_note("maintenance.close", window_id, "skipped", f"extended: now ends {record['ends_at']}")
        self.windows.close(window_id, by="calendar", reason="scheduled end")
        return action_note("maintenance.close", window_id, "executed", "scheduled end; in-scope alarms re-checked")

    def checklist(self, name: str, at: datetime) -> dict[str, Any]:
        """Run a checklist and send its summary once, whatever Scheduler redelivers: the record and
        the outbox item holding the summary are written together, conditionally."""
        result = run_checklist(name, at, self.deps, self.windows.active())
        now = isoformat(self.deps.clock.now())
        key = f"checklist|{name}|{isoformat(at)}"
        outbox = {"transition_id": key, "notification": {
            "severity": result.severity, "subject": result.subject, "message": result.message,
            "attributes": {"kind": "checklist", "severity": result.severity, "task": name}}}
        record = {"ran_at": now, "severity": result.severity, "facts": result.facts}
        if not self.deps.repository(Runs).checklist_ran(name, isoformat(at), record, outbox, now):
            return action_note(f"checklist.{name}", name, "skipped", "already ran for this occurrence (redelivery)")
        return action_note(f"checklist.{name}", name, "executed", result.subject)

    # --- operators ------------------------------------------------------------------------------

    def operator(self, event: dict[str, Any]) -> dict[str, Any]:
        action, by = event.get("action"), str(event.get("by") or "unknown")
        now = self.deps.clock.now()
        minutes = int(event.get("minutes") or self.config.default_minutes)
        if not 1 <= minutes <= self.config.max_minutes:
            raise MalformedEvent(f"--for must be between 1 minute and {self.config.max_minutes} minutes")
        if action == "enable":
            if not event.get("message"):
                raise MalformedEvent("maintenance enable needs a --message for the users")
            known = {*self.policy.components, BACKUP_COMPONENT}
            unknown = sorted(set(event.get("components") or ()) - known)
            if unknown:
                # A misspelt scope would cover nothing and silently page through the maintenance.
                raise MalformedEvent(f"unknown component {unknown[0]!r} (known: {', '.join(sorted(known))})")
            window = Window(id=f"adhoc-{now:%Y%m%d-%H%M%S}", message=str(event["message"]), starts_at=isoformat(now),
                            ends_at=isoformat(now + timedelta(minutes=minutes)),
                            components=tuple(event.get("components") or ()), alarms=tuple(event.get("alarms") or ()),
                            opened_by=f"human:{by}")
            opened = self.windows.open(window)
            return action_note("maintenance.open", window.id, "executed" if opened else "skipped",
                              f"until {window.ends_at} ({window.scope_text}): {window.message}") | {"window": window.as_dict()}
        target = self._target(event.get("window"))
        try:
            if action == "disable":
                self.windows.close(target, by=f"human:{by}", reason=f"disabled by {by}")
                return action_note("maintenance.close", target, "executed", f"disabled by {by}; in-scope alarms re-checked")
            if action == "extend":
                extended = self.windows.extend(target, minutes, by=by)
                return action_note("maintenance.extend", target, "executed", f"now ends {extended.ends_at}")
        except WindowNotOpen:
            return action_note(f"maintenance.{action}", target, "failed", "that window is not open")
        raise MalformedEvent(f"unknown maintenance action {action!r}")

    def _target(self, window_id: Any) -> str:
        """The window an operator means: the one named, or the only one open."""
        if window_id:
            return str(window_id)
        active = self.windows.active()
        if len(active) != 1:
            raise MalformedEvent(f"{len(active)} windows are open ({', '.join(w.id for w in active) or 'none'}): "
                                 "name one with --window")
        return active[0].id

