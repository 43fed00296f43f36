"""Send what committed transitions must send: each OUTBOX item's ops-bus event, then its page.

The ledger's stream delivers every new OUTBOX item at least once, in order per shard. A record that
cannot be sent is reported as the batch's first failure, so Lambda retries from it (and bisects,
then dead-letters it after the configured attempts); the records before it are not sent again.

Each step, once sent, is marked on the OUTBOX item itself (`event_sent_at`, `page_sent_at` and the
page's SNS message id). A redelivery puts the event again (consumers deduplicate on
`transition_id`; the event is the critical path, so no read comes before it) and sends the page only
if it is not marked: the event's mark returns the item's marks. What is left is the instant between
the page's Publish and its mark: a crash there pages again on the retry — twice rather than never,
which is the choice on-call wants (SNS standard topics, which email and SMS need, take no
deduplication id). The marks also give `opsctl drill` each hop's time."""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError

from controlplane import keys
from controlplane.clock import isoformat
from controlplane.errors import MalformedEvent
from controlplane.ledger import EVENT_SENT, PAGE_SENT, from_item, key_item, to_item
from controlplane.notify import PAGE_ID, message_attributes
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
    marks = OutboxMarks(deps)
    sent: set[str] = set()
    if "event" in outbox:
        response = deps.client("events").put_events(Entries=[outbox["event"]])
        if response.get("FailedEntryCount"):
            raise DeliveryFailed(f"ops bus refused the event: {response['Entries'][0].get('ErrorCode')}")
        sent = marks.mark(outbox, EVENT_SENT, isoformat(deps.clock.now()))
    elif "notification" in outbox:
        sent = marks.read(outbox)
    if "notification" in outbox and PAGE_SENT not in sent:
        note = outbox["notification"]
        message = deps.client("sns").publish(
            TopicArn=deps.settings.notify_topics[note["severity"]],
            Subject=note["subject"],
            Message=note["message"],
            MessageAttributes=message_attributes(note["attributes"] | {PAGE_ID: outbox["transition_id"]}),
        )
        try:
            marks.mark(outbox, PAGE_SENT, isoformat(deps.clock.now()), page_message_id=message.get("MessageId", ""))
        except ClientError:
            # The page went out. Failing the record now would certainly page again on the retry; an
            # unmarked page only pages again if the record is ever redelivered for another reason.
            logger.warning("page sent, its mark not written", extra={"transition": outbox.get("transition_id")}, exc_info=True)
    return str(outbox["transition_id"])


class OutboxMarks:
    """The sent marks on OUTBOX items. Marking returns the marks the item then has, so the event's
    mark is also the read that tells whether the page went out already (no extra call before the
    event, which is the critical path)."""

    def __init__(self, deps: Dependencies) -> None:
        self.client, self.table = deps.client("dynamodb"), deps.settings.ledger_table

    def read(self, outbox: dict[str, Any]) -> set[str]:
        item = self.client.get_item(TableName=self.table, Key=key_item(keys.key_of(outbox)), ConsistentRead=True,
                                    ProjectionExpression=f"{EVENT_SENT}, {PAGE_SENT}").get("Item", {})
        return set(item)

    def mark(self, outbox: dict[str, Any], mark: str, at: str, **also: str) -> set[str]:
        """Set `mark` (the first time only: a re-send keeps the first send's time) and `also`."""
        values = {":at": at} | {f":{key}": value for key, value in also.items()}
        try:
            response = self.client.update_item(
                TableName=self.table, Key=key_item(keys.key_of(outbox)),
                UpdateExpression=", ".join(["SET #m = if_not_exists(#m, :at)", *(f"#{k} = :{k}" for k in also)]),
                ConditionExpression=keys.PRESENT,
                ExpressionAttributeNames={"#m": mark} | {f"#{key}": key for key in also},
                ExpressionAttributeValues=to_item(values), ReturnValues="ALL_NEW")
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            # Expired (TTL) since it was committed: nothing is left to tell a redelivery from the first.
            logger.warning("outbox item gone before its sent mark", extra={"transition": outbox.get("transition_id")})
            return set()
        return set(response.get("Attributes", {})) & {EVENT_SENT, PAGE_SENT}
