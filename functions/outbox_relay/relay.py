"""Send what committed transitions must send: each OUTBOX item's ops-bus event, then its page.

The ledger's stream delivers every new OUTBOX item at least once, in order per shard. A record that
cannot be sent is reported as the batch's first failure, so Lambda retries from it (and bisects,
then dead-letters it after the configured attempts); the records before it are not sent again.

Each step, once sent, is marked on the OUTBOX item itself (`event_sent_at`, `page_sent_at` and the
page's SNS message id), and a redelivery sends only the steps not marked: a retry after the event
went out sends the page alone, and a retry after both went out sends nothing. What is left is the
instant between a send and its mark: a crash there sends that step again on the retry. For the page
that is the choice on-call wants (a page twice rather than never; SNS standard topics, which email
and SMS need, take no deduplication id); the marks also give `opsctl drill` each hop's time."""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError

from controlplane.clock import isoformat
from controlplane.errors import MalformedEvent
from controlplane.ledger import EVENT_SENT, PAGE_SENT, from_item, outbox_key, to_item
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
    ledger = OutboxMarks(deps)
    sent = ledger.marks(outbox)
    if "event" in outbox and EVENT_SENT not in sent:
        response = deps.client("events").put_events(Entries=[outbox["event"]])
        if response.get("FailedEntryCount"):
            raise DeliveryFailed(f"ops bus refused the event: {response['Entries'][0].get('ErrorCode')}")
        ledger.mark(outbox, {EVENT_SENT: isoformat(deps.clock.now())})
    if "notification" in outbox and PAGE_SENT not in sent:
        note = outbox["notification"]
        message = deps.client("sns").publish(
            TopicArn=deps.settings.notify_topics[note["severity"]],
            Subject=note["subject"],
            Message=note["message"],
            MessageAttributes={k: {"DataType": "String", "StringValue": str(v)} for k, v in note["attributes"].items()},
        )
        ledger.mark(outbox, {PAGE_SENT: isoformat(deps.clock.now()), "page_message_id": message.get("MessageId", "")})
    return str(outbox["transition_id"])


class OutboxMarks:
    """The sent marks on OUTBOX items: read consistently before sending, written after each step."""

    def __init__(self, deps: Dependencies) -> None:
        self.client, self.table = deps.client("dynamodb"), deps.settings.ledger_table

    def marks(self, outbox: dict[str, Any]) -> set[str]:
        item = self.client.get_item(TableName=self.table, Key=to_item(outbox_key(outbox)), ConsistentRead=True,
                                    ProjectionExpression=f"{EVENT_SENT}, {PAGE_SENT}").get("Item", {})
        return set(item)

    def mark(self, outbox: dict[str, Any], values: dict[str, str]) -> None:
        names = {f"#{key}": key for key in values}
        try:
            self.client.update_item(
                TableName=self.table, Key=to_item(outbox_key(outbox)),
                UpdateExpression="SET " + ", ".join(f"#{key} = :{key}" for key in values),
                ConditionExpression="attribute_exists(pk)", ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_item({f":{key}": value for key, value in values.items()}))
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            # Expired (TTL) since it was committed: there is nothing left to send it twice.
            logger.warning("outbox item gone before its sent mark", extra={"sk": outbox.get("sk")})
