"""Deployments per target in the ledger: versions in order, who deployed them, and their status.

Items (controlplane.keys):
  keys.deploy_head(target)               {live_version, live_since, deployed_by, rollback_decision?}
  keys.deploy_version(target, at, v)     {version, artifact, deployed_at, deployed_by}
  keys.quarantine(target, version)       {reason, at, decision}: never a rollback target again
A version's status follows from those: live (HEAD), quarantined (rolled back), or superseded."""

from __future__ import annotations

from typing import Any

from controlplane import keys
from controlplane.ledger import key_item, read_item, read_partition, to_item
from controlplane.repository import Repository, takes


class QuarantinedVersion(Exception):
    """A quarantined version may only be recorded again with force (the roll-forward bypass)."""


class DeploymentLedger(Repository):
    @takes("GetItem")
    def head(self, target: str) -> dict[str, Any] | None:
        return read_item(self.client, self.table, keys.deploy_head(target))

    @takes("Query")
    def history(self, target: str) -> list[dict[str, Any]]:
        """Newest first."""
        return read_partition(self.client, self.table, keys.deployments(target), prefix=keys.DEPLOY_VERSION_PREFIX,
                              newest_first=True)

    @takes("GetItem", "Query")
    def history_with_status(self, target: str) -> list[dict[str, Any]]:
        live = (self.head(target) or {}).get("live_version")
        quarantined = self.quarantined(target)
        rows, live_seen = [], False
        for entry in self.history(target):  # newest first: only the newest record of the live version is live
            if entry["version"] == live and not live_seen:
                status, live_seen = "live", True
            else:
                status = "quarantined" if entry["version"] in quarantined else "superseded"
            rows.append(keys.public(entry) | {"status": status})
        return rows

    @takes("Query")
    def quarantined(self, target: str) -> set[str]:
        # The version is the item's sort key (keys.quarantine).
        return {keys.key_of(item).sk for item in read_partition(self.client, self.table, keys.quarantined(target))}

    @takes("Query")
    def previous_good(self, target: str, live_version: str) -> str | None:
        """The newest version before the live one that was never quarantined."""
        bad = self.quarantined(target) | {live_version}
        history = self.history(target)
        live_seen = False
        for entry in history:
            if entry["version"] == live_version:
                live_seen = True
            elif live_seen and entry["version"] not in bad:
                return str(entry["version"])
        return None

    @takes("Query", "PutItem", "DeleteItem")
    def record(self, target: str, version: str, *, at: str, by: str, artifact: str | None = None,
               force: bool = False) -> dict[str, Any]:
        if version in self.quarantined(target) and not force:
            raise QuarantinedVersion(f"{target} {version} is quarantined after a rollback; record it with --force "
                                     "to roll forward anyway")
        entry = {"version": version, "artifact": artifact, "deployed_at": at, "deployed_by": by, "forced": force or None}
        operations: list[dict[str, Any]] = [
            {"Put": {"TableName": self.table, "Item": to_item(keys.deploy_version(target, at, version).item(entry))}},
            {"Put": {"TableName": self.table, "Item": to_item(keys.deploy_head(target).item({
                "live_version": version, "live_since": at, "deployed_by": by}))}},
        ]
        if force:
            operations.append({"Delete": {"TableName": self.table, "Key": key_item(keys.quarantine(target, version))}})
        self.client.transact_write_items(TransactItems=operations)
        return {k: v for k, v in entry.items() if v is not None}

    @takes("PutItem")
    def rollback_operations(self, target: str, bad: str, good: str, *, at: str, decision: str,
                            reason: str) -> list[dict[str, Any]]:
        """Ledger writes of a rollback, for the decision record's transaction: quarantine the bad
        version and make the good one live, on condition that nobody recorded a newer deployment
        meanwhile (then the roll-forward wins; see RollbackService)."""
        return [
            {"Put": {"TableName": self.table, "Item": to_item(keys.quarantine(target, bad).item({
                "reason": reason, "at": at, "decision": decision}))}},
            {"Put": {"TableName": self.table, "Item": to_item(keys.deploy_head(target).item({
                "live_version": good, "live_since": at, "deployed_by": f"rollback {decision}",
                "rollback_decision": decision})),
                "ConditionExpression": "live_version = :bad",
                "ExpressionAttributeValues": to_item({":bad": bad})}},
        ]
