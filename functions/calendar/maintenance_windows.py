"""Opening, extending and closing maintenance windows: their announcements and their ends (the
ledger's side: controlplane.windows). Its end is a one-time schedule; the "Maintenance Window
Ended" event makes triage look again at the alarms it covered."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from controlplane.clock import isoformat, parse_timestamp
from controlplane.events import MAINTENANCE_ENDED, MAINTENANCE_STARTED, OPS_SOURCE
from controlplane.maintenance import Window
from controlplane.runtime import Dependencies
from controlplane.windows import WindowLedger, WindowNotOpen


class MaintenanceWindows:
    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps
        self.ledger = deps.repository(WindowLedger)
        self.zone = deps.policy.timezone

    # --- reading -------------------------------------------------------------------------------

    def active(self) -> list[Window]:
        now = self.deps.clock.now()
        return [w for w in self.ledger.recorded_open() if w.is_active(now)]

    # --- changing ------------------------------------------------------------------------------

    def open(self, window: Window) -> bool:
        """Open `window` and schedule its end; False if it was opened before (a redelivery)."""
        announcement = {
            "transition_id": f"window|{window.id}|start",
            "event": self._event(MAINTENANCE_STARTED, window, {}),
            "notification": self._notice(f"[Maintenance] {window.id} started, until {self._local(window.ends_at)}",
                                         _start_message(window, self._local(window.ends_at))),
        }
        # The end is armed first, so a crash right after the window is written cannot leave it open
        # for good (a redelivery finds the window and stops). An end that finds no such window open does nothing.
        self._schedule_end(window)
        return self.ledger.open(window, at=isoformat(self.deps.clock.now()), announcement=announcement)

    def extend(self, window_id: str, minutes: int, by: str) -> Window:
        """Push the end `minutes` later (from now, if it has already passed)."""
        window = self._open_window(window_id)
        until = max(parse_timestamp(window.ends_at), self.deps.clock.now()) + timedelta(minutes=minutes)
        extended = Window.from_dict(window.as_dict() | {"ends_at": isoformat(until)})
        self._schedule_end(extended)  # first, as for open
        self.ledger.extend(extended, at=isoformat(self.deps.clock.now()), by=by)
        return extended

    def close(self, window_id: str, *, by: str, reason: str) -> Window:
        """Close now: announce it with what the window held back; triage then re-checks its alarms."""
        window = self._open_window(window_id)
        held_back = self.ledger.held_back(window_id)
        details = {"closed_by": by, "reason": reason, "suppressed": len(held_back)}
        announcement = {
            "transition_id": f"window|{window.id}|end",
            "event": self._event(MAINTENANCE_ENDED, window, details),
            "notification": self._notice(f"[Maintenance] {window.id} ended ({len(held_back)} held-back pages)",
                                         _end_message(window, reason, held_back)),
        }
        self.ledger.close(window, at=isoformat(self.deps.clock.now()), by=by, reason=reason, held_back=len(held_back),
                          announcement=announcement)
        return window

    # --- helpers -------------------------------------------------------------------------------

    def _open_window(self, window_id: str) -> Window:
        record = self.ledger.record(window_id)
        if record is None or record["status"] != "OPEN":
            raise WindowNotOpen(window_id)
        return Window.from_dict(record)

    def _schedule_end(self, window: Window) -> None:
        ends = parse_timestamp(window.ends_at)
        # One schedule per end time: after an extension the earlier one finds the window still open
        # with a later end, and does nothing.
        self.deps.schedule(f"end-{window.id}-{int(ends.timestamp())}", ends,
                           {"task": "window-end", "window": window.id, "at": window.ends_at})

    def _event(self, detail_type: str, window: Window, details: dict[str, Any]) -> dict[str, Any]:
        return {"Source": OPS_SOURCE, "DetailType": detail_type, "EventBusName": self.deps.settings.ops_bus_name,
                "Detail": json.dumps({"window": window.as_dict(), "config_version": self.deps.policy.config_version,
                                      **details}, sort_keys=True)}

    @staticmethod
    def _notice(subject: str, message: str) -> dict[str, Any]:
        return {"severity": "P3", "subject": subject[:100], "message": message,
                "attributes": {"kind": "maintenance", "severity": "P3"}}

    def _local(self, at: str) -> str:
        return parse_timestamp(at).astimezone(ZoneInfo(self.zone)).strftime("%a %d %b %H:%M %Z")


def _start_message(window: Window, local_end: str) -> str:
    return "\n".join([
        f"## Maintenance window {window.id}",
        "",
        f"**Message:** {window.message}",
        f"**Until:** {local_end} ({window.ends_at})",
        f"**Scope:** {window.scope_text}",
        f"**Opened by:** {window.opened_by}",
        "",
        "While it lasts, inside its scope:",
        "- P1–P3 pages are held back and recorded on the incident; P0 always pages",
        "- automated rollback, WAF rate limiting and restore tests are paused (humans are not)",
        "- at its end, alarms still in ALARM are looked at again and paged",
    ])


def _end_message(window: Window, reason: str, held_back: list[dict[str, Any]]) -> str:
    lines = [f"## Maintenance window {window.id} ended", "", f"**Why:** {reason}", f"**Scope:** {window.scope_text}",
             "", f"Pages held back during the window: {len(held_back)}"]
    lines += [f"- {item['suppressed_at'][:16]} [{item['severity']}] {item['subject']}" for item in held_back[:50]]
    lines += ["", "Alarms in its scope still in ALARM are being looked at again now; their incidents page."]
    return "\n".join(lines)
