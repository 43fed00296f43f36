"""Small ledger repositories: the runs of scheduled jobs, the WAF's traffic baselines, the backup
verifier's records, the organization's coverage."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from controlplane import keys
from controlplane.ledger import key_item, read_item, read_items, read_partition, to_item, write_item, write_once
from controlplane.repository import Repository, takes


class Runs(Repository):
    """One run of each scheduled job occurrence: a checklist, a report, a fire drill. A redelivered
    job finds its run and does not run (or announce) again."""

    @takes("PutItem")
    def checklist_ran(self, name: str, scheduled_at: str, record: dict[str, Any], outbox: dict[str, Any], at: str) -> bool:
        return write_once(self.client, self.table, keys.checklist(name, scheduled_at), record, outbox, at)

    @takes("PutItem")
    def report_sent(self, period: str, day: str, record: dict[str, Any], outbox: dict[str, Any], at: str) -> bool:
        return write_once(self.client, self.table, keys.report(period, day), record, outbox, at)

    @takes("PutItem")
    def claim_drill(self, occurrence: str, fields: dict[str, Any]) -> bool:
        """The drill of `occurrence` is ours to run (False: it has run, or is running, already)."""
        try:
            self.client.put_item(TableName=self.table, ConditionExpression=keys.ABSENT,
                                 Item=to_item(keys.drill(occurrence).item(fields)))
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    @takes("UpdateItem")
    def record_drill(self, occurrence: str, fields: dict[str, Any]) -> None:
        self.client.update_item(
            TableName=self.table, Key=key_item(keys.drill(occurrence)),
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in fields),
            ExpressionAttributeNames={f"#{k}": k for k in fields},
            ExpressionAttributeValues=to_item({f":{k}": v for k, v in fields.items()}))


class Webhooks(Repository):
    """PagerDuty's webhook deliveries taken: a redelivery (same event id) is taken once."""

    @takes("PutItem")
    def first_delivery(self, event_id: str, fields: dict[str, Any], expires_at: int) -> bool:
        """Record the delivery of `event_id` (False: it was taken before). Kept past the window in
        which a delivery is accepted at all, so no replay outlives its record."""
        try:
            self.client.put_item(TableName=self.table, ConditionExpression=keys.ABSENT, Item=to_item(
                keys.webhook_delivery(event_id).item(fields | {"expires_at": expires_at})))
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True


class Baselines(Repository):
    """The hourly baseline of an alarm that follows its history, and the threshold made from it."""

    @takes("PutItem")
    def write(self, alarm: str, fields: dict[str, Any]) -> None:
        write_item(self.client, self.table, keys.baseline(alarm), fields)

    @takes("GetItem")
    def read(self, alarm: str) -> dict[str, Any] | None:
        return read_item(self.client, self.table, keys.baseline(alarm))


class BackupLedger(Repository):
    """The backup verifier's records: its latest summary, each resource's last validated restore,
    and the restore tests it started (only those are validated and deleted)."""

    @takes("PutItem")
    def write_status(self, fields: dict[str, Any]) -> None:
        write_item(self.client, self.table, keys.BACKUP_STATUS, fields)

    @takes("GetItem")
    def status(self) -> dict[str, Any] | None:
        return read_item(self.client, self.table, keys.BACKUP_STATUS)

    @takes("PutItem")
    def restore_validated(self, resource_arn: str, fields: dict[str, Any]) -> None:
        write_item(self.client, self.table, keys.restore(resource_arn), fields)

    @takes("BatchGetItem")
    def last_validated(self, resource_arns: Iterable[str]) -> dict[str, str]:
        """Resource ARN → when its last restore was validated (ARNs never validated are left out)."""
        wanted = {keys.restore(arn): arn for arn in resource_arns}
        return {wanted[keys.key_of(item)]: str(item["validated_at"])
                for item in read_items(self.client, self.table, list(wanted))}

    @takes("PutItem")
    def restore_started(self, job_id: str, fields: dict[str, Any]) -> None:
        write_item(self.client, self.table, keys.restore_job(job_id), fields)

    @takes("BatchGetItem")
    def started_by_us(self, job_id: str) -> bool:
        # BatchGetItem even for one item: the verifier's only read of the ledger (one grant fewer).
        return bool(read_items(self.client, self.table, [keys.restore_job(job_id)]))


class Coverage(Repository):
    """Each member account × Region the spokes report from: the last heartbeat (and the spoke's
    version), the last coverage check (heard lately, role assumable), heartbeats refused."""

    @takes("UpdateItem")
    def heartbeat(self, account: str, region: str, at: str, version: str, *, configured: bool) -> None:
        """A heartbeat of the pair at `at`; a late or redelivered one never moves the time back.
        A pair the config does not watch is counted (`refused`), not believed."""
        names = {"#at": "last_heartbeat_at", "#version": "spoke_version", "#configured": "configured"}
        values = {":at": at, ":version": version, ":configured": configured}
        update = "SET #at = :at, #version = :version, #configured = :configured"
        if not configured:
            names["#refused"], values[":one"] = "refused", 1
            update += " ADD #refused :one"
        try:
            self.client.update_item(
                TableName=self.table, Key=key_item(keys.coverage(account, region)), UpdateExpression=update,
                ConditionExpression="attribute_not_exists(#at) OR #at < :at", ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_item(values))
        except self.client.exceptions.ConditionalCheckFailedException:
            pass  # a newer heartbeat is recorded already

    @takes("Query")
    def pairs(self) -> list[dict[str, Any]]:
        """Every pair heard from or checked, each with its `account` and `region`: its heartbeat's
        fields and its last check's."""
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        for item in read_partition(self.client, self.table, keys.COVERAGE):
            account, region = keys.key_of(item).sk.removeprefix(keys.COVERAGE_CHECK_PREFIX).split("#", 1)
            merged.setdefault((account, region), {"account": account, "region": region}).update(keys.public(item))
        return list(merged.values())

    @takes("BatchWriteItem")
    def checked(self, verdicts: dict[tuple[str, str], dict[str, Any]]) -> None:
        """Each pair's verdict, 25 to a request (a check of 1,500 pairs is 60 calls, not 1,500)."""
        requests = [{"PutRequest": {"Item": to_item(keys.coverage_check(account, region).item(fields))}}
                    for (account, region), fields in verdicts.items()]
        for start in range(0, len(requests), 25):
            pending: dict[str, Any] = {self.table: requests[start:start + 25]}
            while pending:
                pending = self.client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
