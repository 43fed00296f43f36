"""Send what committed transitions must send: each OUTBOX item's ops-bus event, then its page.

The ledger's stream delivers every new OUTBOX item at least once, in order per shard. A record that
cannot be sent is reported as the batch's first failure, so Lambda retries from it (and bisects,
then dead-letters it after the configured attempts); the records before it are not sent again.
A retry after the event went out but the page did not re-sends the event (consumers deduplicate on
`transition_id`) and sends the page once."""

from __future__ import annotations

import logging
from typing import Any

from controlplane.errors import MalformedEvent
from controlplane.ledger import from_item
from controlplane.runtime import Dependencies

logger = logging.getLogger("outbox_relay")


class DeliveryFailed(Exception):
    """The ops bus refused the event; retrying the record may succeed."""


def relay_batch(event: Any, deps: Dependencies) -> dict[str, Any]:
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        raise MalformedEvent("not a DynamoDB stream batch (no Records)")
    sent: list[str] = []
    for record in records:
        sequence = record.get("dynamodb", {}).get("SequenceNumber", "?")
        try:
            sent.append(send(outbox_of(record), deps))
        except Exception:
            logger.exception("outbox record not delivered; Lambda retries from it", extra={"sequence": sequence})
            return {"batchItemFailures": [{"itemIdentifier": sequence}], "sent": sent}
    return {"batchItemFailures": [], "sent": sent}


def outbox_of(record: dict[str, Any]) -> dict[str, Any]:
    return from_item(record["dynamodb"]["NewImage"])


def send(outbox: dict[str, Any], deps: Dependencies) -> str:
    if "event" in outbox:
        response = deps.client("events").put_events(Entries=[outbox["event"]])
        if response.get("FailedEntryCount"):
            raise DeliveryFailed(f"ops bus refused the event: {response['Entries'][0].get('ErrorCode')}")
    if "notification" in outbox:
        note = outbox["notification"]
        deps.client("sns").publish(
            TopicArn=deps.settings.notify_topics[note["severity"]],
            Subject=note["subject"],
            Message=note["message"],
            MessageAttributes={k: {"DataType": "String", "StringValue": str(v)} for k, v in note["attributes"].items()},
        )
    return str(outbox["transition_id"])
