"""PagerDuty's v3 webhooks → the ledger's acknowledgement path, so that an acknowledgement pressed in
PagerDuty stops our escalation and `opsctl incident list` tells the truth.

The endpoint (a Lambda function URL) is on the internet, so a request is a claim until proven:
- **Signed.** `X-PagerDuty-Signature` carries `v1=<hex>` HMAC-SHA256 signatures of the raw body, one
  per signing secret the subscription has (several while a secret rotates). Every secret we hold
  (Secrets Manager, a list) is tried against every signature, in constant time; one match is
  enough. No match → 401, and nothing else is read or written.
- **Fresh.** A signed event older than `REPLAY_WINDOW` (or from the future) is refused: a captured
  request replayed later does nothing. Within the window, its delivery record stops it.
- **Once.** Each event id is recorded after it is applied (kept well past the window): a
  redelivery answers "duplicate". It is applied first because acknowledging is idempotent — a crash
  between the two re-applies harmlessly instead of losing the acknowledgement.

`incident.acknowledged` acknowledges our incident (a storm's parent with its children);
`incident.resolved` acknowledges it too (someone handled it: stop paging), while the incident itself
resolves only when its alarm does — CloudWatch, not PagerDuty, says the problem is gone. Other
event types, and incidents that are not ours (another integration on the same service), are
answered 200 and ignored with the reason, so PagerDuty does not retry them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from controlplane.clock import isoformat, parse_timestamp
from controlplane.errors import IncidentNotFound
from controlplane.events import pagerduty_signing_secret_name
from controlplane.ledger import IncidentLedger
from controlplane.records import Webhooks
from controlplane.runtime import Dependencies

logger = logging.getLogger("pagerduty_webhook")

SIGNATURE_HEADER = "x-pagerduty-signature"  # function URLs deliver header names in lower case
REPLAY_WINDOW, CLOCK_SKEW = timedelta(hours=1), timedelta(minutes=5)
DELIVERY_KEPT = timedelta(days=7)
MAX_BODY_BYTES = 256 * 1024
ACKNOWLEDGING = {"incident.acknowledged": "", "incident.resolved": " (resolved in PagerDuty)"}
INCIDENT_ID = re.compile(r"^INC-\d{4}-\d{3,}$")


@dataclass(frozen=True)
class Reply:
    status: int
    result: str
    reason: str
    incident: str | None = None

    def response(self) -> dict[str, Any]:
        return {"statusCode": self.status, "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"result": self.result, "reason": self.reason})}


def signatures(header: str) -> list[str]:
    """The v1 signatures of `X-PagerDuty-Signature` ("v1=<hex>,v1=<hex>"); others are ignored."""
    return [part.strip()[3:] for part in header.split(",") if part.strip().startswith("v1=")]


def signed_by_any(body: bytes, header: str, secrets: list[str]) -> bool:
    """Whether any of our secrets signed `body` as one of the header's signatures. Every pair is
    compared (no early exit), each in constant time."""
    expected = [hmac.new(secret.encode(), body, hashlib.sha256).hexdigest() for secret in secrets if secret]
    matched = False
    for signature in signatures(header):
        for digest in expected:
            matched |= hmac.compare_digest(digest, signature)
    return matched


class PagerDutyWebhook:
    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps
        self.policy = deps.policy

    def receive(self, request: dict[str, Any]) -> Reply:
        method = request.get("requestContext", {}).get("http", {}).get("method")
        if method != "POST":
            return Reply(405, "rejected", f"method {method} not allowed: PagerDuty POSTs")
        body = request.get("body") or ""
        raw = base64.b64decode(body) if request.get("isBase64Encoded") else body.encode()
        if len(raw) > MAX_BODY_BYTES:
            return Reply(413, "rejected", f"body of {len(raw)} bytes (at most {MAX_BODY_BYTES})")
        headers = {str(k).lower(): str(v) for k, v in (request.get("headers") or {}).items()}
        header = headers.get(SIGNATURE_HEADER, "")
        if not signed_by_any(raw, header, self._secrets()):
            # Anyone can reach the URL: say nothing more, and keep nothing (a flood must not fill the DLQ).
            logger.warning("webhook signature not verified", extra={"signatures": len(signatures(header))})
            return Reply(401, "rejected", "signature not verified")
        try:
            event = json.loads(raw)["event"]
            event_id, event_type = str(event["id"]), str(event["event_type"])
            occurred = parse_timestamp(str(event["occurred_at"]))
        except (ValueError, KeyError, TypeError) as error:
            return Reply(400, "rejected", f"not a PagerDuty v3 webhook: {type(error).__name__} {error}")
        now = self.deps.clock.now()
        if not now - REPLAY_WINDOW <= occurred <= now + CLOCK_SKEW:
            return Reply(400, "rejected", f"event {event_id} occurred at {isoformat(occurred)}, outside the "
                                          f"{int(REPLAY_WINDOW.total_seconds() // 60)}-minute window (a replay?)")
        reply = self._apply(event, event_type)
        expires = int((now + DELIVERY_KEPT).timestamp())
        if not self.deps.repository(Webhooks).first_delivery(event_id, {"event_type": event_type, "received_at": isoformat(now),
                                                                        "result": reply.result}, expires):
            return Reply(200, "duplicate", f"event {event_id} was taken before", reply.incident)
        return reply

    def _apply(self, event: dict[str, Any], event_type: str) -> Reply:
        data = _mapping(event.get("data"))
        incident_id = str(data.get("incident_key") or "")
        if event_type not in ACKNOWLEDGING:
            return Reply(200, "ignored", f"{event_type}: nothing of ours follows it")
        if not INCIDENT_ID.match(incident_id):
            return Reply(200, "ignored", f"PagerDuty incident {data.get('id')} was not opened by us")
        agent = _mapping(event.get("agent"))
        by = f"PagerDuty: {agent.get('summary') or 'someone'}{ACKNOWLEDGING[event_type]}"[:200]
        ledger = self.deps.repository(IncidentLedger)
        try:
            incident = ledger.acknowledge(incident_id, by, isoformat(self.deps.clock.now()), self.deps.settings.ops_bus_name)
        except IncidentNotFound:
            return Reply(200, "ignored", f"{incident_id} is not in the ledger")
        if incident.get("acknowledged_by") != by:
            return Reply(200, "executed", f"{incident_id} is {incident['status']} already", incident_id)
        return Reply(200, "executed", f"{incident_id} acknowledged by {by}", incident_id)

    def _secrets(self) -> list[str]:
        secret = self.deps.client("secretsmanager").get_secret_value(
            SecretId=pagerduty_signing_secret_name(self.policy.prefix))["SecretString"]
        values = json.loads(secret).get("signing_secrets", [])
        return [str(value) for value in values] if isinstance(values, list) else []


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
