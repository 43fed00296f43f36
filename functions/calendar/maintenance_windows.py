"""Opening, extending and closing maintenance windows in the ledger (see controlplane.maintenance).

Each change is one transaction: the window's record, its entry on MAINTENANCE / ACTIVE (what triage
and the guardrails read) and an OUTBOX item announcing it, so a window is never open unannounced nor
announced twice. Its end is a one-time schedule; the "Maintenance Window Ended" event makes triage
look again at the alarms it covered."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from controlplane import keys
from controlplane.clock import isoformat, parse_timestamp
from controlplane.events import MAINTENANCE_ENDED, MAINTENANCE_STARTED, OPS_SOURCE
from controlplane.ledger import iter_listing, key_item, outbox_item, read_item, read_partition, read_windows, to_item
from controlplane.maintenance import WINDOW_ATTRIBUTE, Window
from controlplane.runtime import Dependencies


class WindowNotOpen(Exception):
    """No open window by that id (never opened, or already closed)."""


class MaintenanceWindows:
    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps
        self.table = deps.settings.ledger_table
        self.client = deps.client("dynamodb")
        self.zone = deps.policy.timezone

    # --- reading -------------------------------------------------------------------------------

    def active(self) -> list[Window]:
        now = self.deps.clock.now()
        return [w for w in read_windows(self.client, self.table) if w.is_active(now)]

    def record(self, window_id: str) -> dict[str, Any] | None:
        return read_item(self.client, self.table, keys.window(window_id))

    def history(self, limit: int = 20) -> list[dict[str, Any]]:
        return list(iter_listing(self.client, self.table, keys.WINDOWS, newest_first=True, limit=limit))

    def suppressed(self, window_id: str) -> list[dict[str, Any]]:
        return read_partition(self.client, self.table, keys.suppressions(window_id))

    # --- changing ------------------------------------------------------------------------------

    def open(self, window: Window) -> bool:
        """Open `window` and schedule its end; False if it was opened before (a redelivery)."""
        now = isoformat(self.deps.clock.now())
        record = keys.window(window.id).item({"status": "OPEN", "opened_at": now} | window.as_dict(),
                                             listed_in=keys.WINDOWS, listed_at=window.starts_at)
        announcement = {
            "transition_id": f"window|{window.id}|start",
            "event": self._event(MAINTENANCE_STARTED, window, {}),
            "notification": self._notice(f"[Maintenance] {window.id} started, until {self._local(window.ends_at)}",
                                         _start_message(window, self._local(window.ends_at))),
        }
        # The end is armed first, so a crash right after the window is written cannot leave it open
        # for good (a redelivery finds the window and stops). An end that finds no such window open does nothing.
        self._schedule_end(window)
        try:
            self.client.transact_write_items(TransactItems=[
                {"Put": {"TableName": self.table, "Item": to_item(record), "ConditionExpression": keys.ABSENT}},
                self._set_active(window),
                {"Put": {"TableName": self.table, "Item": to_item(outbox_item(now, announcement))}},
            ])
        except self.client.exceptions.TransactionCanceledException:
            return False
        return True

    def extend(self, window_id: str, minutes: int, by: str) -> Window:
        """Push the end `minutes` later (from now, if it has already passed)."""
        window = self._open_window(window_id)
        until = max(parse_timestamp(window.ends_at), self.deps.clock.now()) + timedelta(minutes=minutes)
        extended = Window.from_dict(window.as_dict() | {"ends_at": isoformat(until)})
        self._schedule_end(extended)  # first, as for open
        try:
            self.client.transact_write_items(TransactItems=[
                {"Update": {"TableName": self.table, "Key": key_item(keys.window(window_id)),
                            "UpdateExpression": "SET ends_at = :e, timeline = list_append(if_not_exists(timeline, :none), :t)",
                            "ConditionExpression": "#s = :open", "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": to_item({
                                ":e": extended.ends_at, ":open": "OPEN", ":none": [],
                                ":t": [{"at": isoformat(self.deps.clock.now()), "event": "extended", "by": by,
                                        "ends_at": extended.ends_at}]})}},
                self._set_active(extended),
            ])
        except self.client.exceptions.TransactionCanceledException as error:
            raise WindowNotOpen(window_id) from error
        return extended

    def close(self, window_id: str, *, by: str, reason: str) -> Window:
        """Close now: announce it with what the window held back; triage then re-checks its alarms."""
        window = self._open_window(window_id)
        now = isoformat(self.deps.clock.now())
        held_back = self.suppressed(window_id)
        details = {"closed_by": by, "reason": reason, "suppressed": len(held_back)}
        announcement = {
            "transition_id": f"window|{window.id}|end",
            "event": self._event(MAINTENANCE_ENDED, window, details),
            "notification": self._notice(f"[Maintenance] {window.id} ended ({len(held_back)} held-back pages)",
                                         _end_message(window, reason, held_back)),
        }
        try:
            self.client.transact_write_items(TransactItems=[
                {"Update": {"TableName": self.table, "Key": key_item(keys.window(window_id)),
                            "UpdateExpression": "SET #s = :closed, closed_at = :now, closed_by = :by, "
                                                "closed_reason = :why, suppressed_count = :n",
                            "ConditionExpression": "#s = :open", "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": to_item({":closed": "CLOSED", ":open": "OPEN", ":now": now,
                                                                  ":by": by, ":why": reason, ":n": len(held_back)})}},
                {"Update": {"TableName": self.table, "Key": key_item(keys.MAINTENANCE), "UpdateExpression": "REMOVE #w",
                            "ExpressionAttributeNames": {"#w": WINDOW_ATTRIBUTE + window.id}}},
                {"Put": {"TableName": self.table, "Item": to_item(outbox_item(now, announcement))}},
            ])
        except self.client.exceptions.TransactionCanceledException as error:
            raise WindowNotOpen(window_id) from error
        return window

    # --- helpers -------------------------------------------------------------------------------

    def _open_window(self, window_id: str) -> Window:
        record = self.record(window_id)
        if record is None or record["status"] != "OPEN":
            raise WindowNotOpen(window_id)
        return Window.from_dict(record)

    def _set_active(self, window: Window) -> dict[str, Any]:
        return {"Update": {"TableName": self.table, "Key": key_item(keys.MAINTENANCE), "UpdateExpression": "SET #w = :w",
                           "ExpressionAttributeNames": {"#w": WINDOW_ATTRIBUTE + window.id},
                           "ExpressionAttributeValues": to_item({":w": window.as_dict()})}}

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
