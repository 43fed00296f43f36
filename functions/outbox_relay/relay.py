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

from controlplane.clock import isoformat
from controlplane.errors import MalformedEvent
from controlplane.ledger import EVENT_SENT, PAGE_SENT, Outbox, from_item
from controlplane.notify import PAGE_ID, publish_page
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
    marks = deps.repository(Outbox)
    sent: set[str] | None = set()
    if "event" in outbox:
        response = deps.client("events").put_events(Entries=[outbox["event"]])
        if response.get("FailedEntryCount"):
            raise DeliveryFailed(f"ops bus refused the event: {response['Entries'][0].get('ErrorCode')}")
        sent = marks.mark(outbox, EVENT_SENT, isoformat(deps.clock.now()))
    elif "notification" in outbox:
        sent = marks.marks(outbox)
    if sent is None:
        # Expired (TTL) since it was committed: nothing is left to tell a redelivery from the first.
        logger.warning("outbox item gone before its sent mark", extra={"transition": outbox.get("transition_id")})
        sent = set()
    if "notification" in outbox and PAGE_SENT not in sent:
        note = outbox["notification"]
        message = publish_page(deps.client("sns"), deps.settings.notify_topics[note["severity"]],
                               subject=note["subject"], message=note["message"],
                               attributes=note["attributes"] | {PAGE_ID: outbox["transition_id"]})
        try:
            marks.mark(outbox, PAGE_SENT, isoformat(deps.clock.now()), page_message_id=message.get("MessageId", ""))
        except ClientError:
            # The page went out. Failing the record now would certainly page again on the retry; an
            # unmarked page only pages again if the record is ever redelivered for another reason.
            logger.warning("page sent, its mark not written", extra={"transition": outbox.get("transition_id")}, exc_info=True)
    return str(outbox["transition_id"])
