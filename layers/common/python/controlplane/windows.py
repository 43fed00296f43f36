"""Maintenance windows in the ledger (the model and what a window covers: controlplane.maintenance).

Each change is one transaction: the window's record, its entry on the open-windows item (what triage
and the guardrails read with everything else) and the OUTBOX item announcing it, so a window is
never open unannounced nor announced twice."""

from __future__ import annotations

from typing import Any

from controlplane import keys
from controlplane.ledger import iter_listing, key_item, outbox_item, read_item, read_partition, to_item
from controlplane.maintenance import WINDOW_ATTRIBUTE, Window, windows_of
from controlplane.repository import INDEX_QUERY, Repository, takes


class WindowNotOpen(Exception):
    """No open window by that id (never opened, or already closed)."""


class WindowLedger(Repository):
    @takes("GetItem")
    def recorded_open(self) -> list[Window]:
        """The windows recorded as open (one consistent read); callers check expiry."""
        return windows_of(read_item(self.client, self.table, keys.MAINTENANCE))

    @takes("GetItem")
    def record(self, window_id: str) -> dict[str, Any] | None:
        return read_item(self.client, self.table, keys.window(window_id))

    @takes(INDEX_QUERY)
    def history(self, limit: int = 20) -> list[dict[str, Any]]:
        return list(iter_listing(self.client, self.table, keys.WINDOWS, newest_first=True, limit=limit))

    @takes("Query")
    def held_back(self, window_id: str) -> list[dict[str, Any]]:
        """The pages the window held back (controlplane.maintenance.suppressed_item)."""
        return read_partition(self.client, self.table, keys.suppressions(window_id))

    @takes("PutItem", "UpdateItem")
    def open(self, window: Window, *, at: str, announcement: dict[str, Any]) -> bool:
        """Record `window` as open, with its announcement; False if it was opened before (a redelivery)."""
        record = keys.window(window.id).item({"status": "OPEN", "opened_at": at} | window.as_dict(),
                                             listed_in=keys.WINDOWS, listed_at=window.starts_at)
        try:
            self.client.transact_write_items(TransactItems=[
                {"Put": {"TableName": self.table, "Item": to_item(record), "ConditionExpression": keys.ABSENT}},
                self._set_open(window),
                {"Put": {"TableName": self.table, "Item": to_item(outbox_item(at, announcement))}},
            ])
        except self.client.exceptions.TransactionCanceledException:
            return False
        return True

    @takes("UpdateItem")
    def extend(self, extended: Window, *, at: str, by: str) -> None:
        """Move an open window's end to `extended.ends_at` (WindowNotOpen: it is not open)."""
        try:
            self.client.transact_write_items(TransactItems=[
                {"Update": {"TableName": self.table, "Key": key_item(keys.window(extended.id)),
                            "UpdateExpression": "SET ends_at = :e, timeline = list_append(if_not_exists(timeline, :none), :t)",
                            "ConditionExpression": "#s = :open", "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": to_item({
                                ":e": extended.ends_at, ":open": "OPEN", ":none": [],
                                ":t": [{"at": at, "event": "extended", "by": by, "ends_at": extended.ends_at}]})}},
                self._set_open(extended),
            ])
        except self.client.exceptions.TransactionCanceledException as error:
            raise WindowNotOpen(extended.id) from error

    @takes("UpdateItem", "PutItem")
    def close(self, window: Window, *, at: str, by: str, reason: str, held_back: int,
              announcement: dict[str, Any]) -> None:
        """Close an open window now, with its announcement (WindowNotOpen: it is not open)."""
        try:
            self.client.transact_write_items(TransactItems=[
                {"Update": {"TableName": self.table, "Key": key_item(keys.window(window.id)),
                            "UpdateExpression": "SET #s = :closed, closed_at = :now, closed_by = :by, "
                                                "closed_reason = :why, suppressed_count = :n",
                            "ConditionExpression": "#s = :open", "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": to_item({":closed": "CLOSED", ":open": "OPEN", ":now": at,
                                                                  ":by": by, ":why": reason, ":n": held_back})}},
                {"Update": {"TableName": self.table, "Key": key_item(keys.MAINTENANCE), "UpdateExpression": "REMOVE #w",
                            "ExpressionAttributeNames": {"#w": WINDOW_ATTRIBUTE + window.id}}},
                {"Put": {"TableName": self.table, "Item": to_item(outbox_item(at, announcement))}},
            ])
        except self.client.exceptions.TransactionCanceledException as error:
            raise WindowNotOpen(window.id) from error

    def _set_open(self, window: Window) -> dict[str, Any]:
        return {"Update": {"TableName": self.table, "Key": key_item(keys.MAINTENANCE), "UpdateExpression": "SET #w = :w",
                           "ExpressionAttributeNames": {"#w": WINDOW_ATTRIBUTE + window.id},
                           "ExpressionAttributeValues": to_item({":w": window.as_dict()})}}
