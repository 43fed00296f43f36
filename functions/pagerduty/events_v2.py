"""PagerDuty through its Events API v2: the incidents of the severities it owns, kept in step with
the ledger — `trigger` on open, `acknowledge`, `resolve` — with `dedup_key` = our incident id.

Each ops-bus event is a claim that an incident changed; the ledger is the truth. Whatever event
arrives, the function reads the incident and sends what PagerDuty has not taken yet, in order:
trigger, then acknowledge, then resolve. A redelivered, late or out-of-order event therefore sends
nothing twice and never re-opens a resolved alert (a trigger after a resolve would open a new
one). The function runs one invocation at a time (reserved concurrency 1), so two events of one
incident never race; storm grouping upstream keeps us far below PagerDuty's ~120 events a minute
per routing key.

Delivery: 202 → recorded on the incident ("service:action" on its `pagerduty` list, and its
timeline); an accepted trigger stands our own acknowledgement escalation down. 429, 5xx and no
answer → retried here with backoff, then by Lambda, then parked on the dead-letter queue, whose
alarm pages P1 by the other channels; no trigger was accepted, so our escalation still runs. 400 →
never retried: the refusal goes on the timeline and the event is parked with PagerDuty's reason.
A crash between a send and its record sends again on the retry, which PagerDuty deduplicates by
the key. The routing keys come from Secrets Manager and are never logged."""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from controlplane.clock import isoformat
from controlplane.errors import IncidentNotFound, MalformedEvent
from controlplane.events import INCIDENT_DETAIL_TYPES, OPS_SOURCE, pagerduty_secret_name
from controlplane.ledger import IncidentLedger
from controlplane.remediation import action_note
from controlplane.runtime import Dependencies

ACTIONS = ("trigger", "acknowledge", "resolve")
PD_SEVERITY = {"P0": "critical", "P1": "error", "P2": "warning", "P3": "info"}
ATTEMPTS, FIRST_BACKOFF_SECONDS, TIMEOUT_SECONDS = 4, 1.0, 5
DEDUP_KEY_LIMIT, SUMMARY_LIMIT = 255, 1024  # PagerDuty's limits
REFUSED = "refused"


class PagerDutyUnavailable(Exception):
    """PagerDuty did not take the event (429, 5xx, no answer) after our retries: Lambda retries it."""


@dataclass(frozen=True)
class Answer:
    status: int  # 0: no answer
    body: str


def post(url: str, event: dict[str, Any]) -> Answer:
    request = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return Answer(int(response.status), response.read().decode(errors="replace"))
    except urllib.error.HTTPError as error:
        return Answer(int(error.code), error.read().decode(errors="replace"))
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        return Answer(0, str(error))


class PagerDutySync:
    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps
        self.policy = deps.policy
        self.ledger = deps.repository(IncidentLedger)
        self._keys: dict[str, str] = {}

    def handle(self, event: Any) -> list[dict[str, Any]]:
        if not (isinstance(event, dict) and event.get("source") == OPS_SOURCE
                and event.get("detail-type") in INCIDENT_DETAIL_TYPES and isinstance(event.get("detail"), dict)
                and event["detail"].get("incident_id")):
            raise MalformedEvent("not an ops-bus incident event")
        return self.sync(str(event["detail"]["incident_id"]))

    def sync(self, incident_id: str) -> list[dict[str, Any]]:
        """Send each owning service what it has not taken of this incident yet; one note a send."""
        try:
            incident = self.ledger.get_incident(incident_id)
        except IncidentNotFound:
            return [_note(incident_id, "-", "-", "skipped", "no such incident")]
        services = self.policy.pagerduty.services_for(incident["severity"])
        taken = set(incident.get("pagerduty", []))
        notes = []
        for service in services:
            for action in self._due(incident, service, taken):
                notes.append(self._send(incident, service, action))
                if notes[-1]["result"] != "executed":
                    break  # never acknowledge or resolve what PagerDuty has not taken
        return notes or [_note(incident_id, ",".join(services) or "-", "-", "skipped",
                               self._why_nothing(incident, services, taken))]

    def _due(self, incident: dict[str, Any], service: str, taken: set[str]) -> list[str]:
        if f"{service}:trigger" not in taken:
            if incident.get("parent") or incident["status"] == "RESOLVED" or f"{service}:{REFUSED}" in taken:
                # Grouped: the storm's parent pages for it. Resolved before PagerDuty heard of it:
                # nothing to open and close. Refused: PagerDuty said why once; it would again.
                return []
            wanted = ["trigger"]
        else:
            wanted = []
        if incident["status"] in ("ACKNOWLEDGED", "RESOLVED") and f"{service}:acknowledge" not in taken \
                and not str(incident.get("acknowledged_by", "")).startswith("PagerDuty") and incident.get("acknowledged_at"):
            wanted.append("acknowledge")
        if incident["status"] == "RESOLVED" and f"{service}:resolve" not in taken:
            wanted.append("resolve")
        return wanted

    @staticmethod
    def _why_nothing(incident: dict[str, Any], services: tuple[str, ...], taken: set[str]) -> str:
        if not services:
            return f"{incident['severity']} is not PagerDuty's"
        if any(f"{service}:{REFUSED}" in taken for service in services):
            return "PagerDuty refused it (the reason is on its timeline)"
        if not any(f"{service}:trigger" in taken for service in services):
            if incident.get("parent"):
                return f"grouped under {incident['parent']}, which pages for it"
            return "resolved before PagerDuty heard of it: nothing to open there"
        return f"PagerDuty has everything of it ({incident['status'].lower()})"

    def _send(self, incident: dict[str, Any], service: str, action: str) -> dict[str, Any]:
        event = self.event(incident, service, action)
        answer = self._post(event)
        at = isoformat(self.deps.clock.now())
        if answer.status == 202:
            self.ledger.record_pagerduty(incident["id"], sent=f"{service}:{action}", triggered=action == "trigger",
                                         entry={"at": at, "event": "pagerduty", "service": service, "action": action})
            return _note(incident["id"], service, action, "executed", f"{incident['id']} → {service}: accepted")
        reason = _reason(answer)
        # 400 (and any other 4xx but 429): PagerDuty will refuse it again; retrying only delays the
        # other channels. On the record, and parked with the reason for a human.
        self.ledger.record_pagerduty(incident["id"], sent=f"{service}:{REFUSED}", triggered=False,
                                     entry={"at": at, "event": "pagerduty-refused", "service": service,
                                            "action": action, "reason": reason})
        self.deps.client("sqs").send_message(
            QueueUrl=self.deps.settings.rejects_queue_url,
            MessageBody=json.dumps({"reason": f"PagerDuty refused {action} of {incident['id']} ({service}): {reason}",
                                    "incident": incident["id"], "service": service, "action": action}),
            MessageAttributes={"rejection_reason": {"DataType": "String", "StringValue": f"PagerDuty {answer.status}"}})
        return _note(incident["id"], service, action, "failed", f"{incident['id']} → {service}: refused: {reason}")

    def _post(self, event: dict[str, Any]) -> Answer:
        url = self.deps.settings.pagerduty_events_url
        if not url:
            raise RuntimeError("PAGERDUTY_EVENTS_URL is not set")
        answer = Answer(0, "not sent")
        for attempt in range(ATTEMPTS):
            if attempt:
                # Exponential, with full jitter: many functions backing off together do not
                # come back together.
                self.deps.sleep(random.uniform(0, FIRST_BACKOFF_SECONDS * 2 ** (attempt - 1)))
            answer = post(url, event)
            if answer.status == 202 or (400 <= answer.status < 500 and answer.status != 429):
                return answer
        raise PagerDutyUnavailable(f"{event['event_action']} of {event['dedup_key']}: {_reason(answer)} "
                                   f"after {ATTEMPTS} attempts")

    def event(self, incident: dict[str, Any], service: str, action: str) -> dict[str, Any]:
        """The Events API v2 event (PD-CEF) of `action` on this incident."""
        event: dict[str, Any] = {"routing_key": self._routing_key(service), "event_action": action,
                                 "dedup_key": incident["id"][:DEDUP_KEY_LIMIT]}
        if action != "trigger":
            return event
        alarm = self.policy.alarms.get(str(incident.get("alarm_name")))
        runbook = f"{self.policy.runbook_url}#{alarm.runbook_section}" if alarm else self.policy.runbook_url
        level = self.policy.severities[incident["severity"]]
        return event | {
            "client": f"Ops Control Plane ({self.policy.prefix})",
            "links": [{"href": runbook, "text": "Runbook"}],
            "payload": {
                "summary": f"[{incident['severity']}] {incident['id']} {incident.get('alarm_name')}: "
                           f"{incident.get('impact', '')}"[:SUMMARY_LIMIT],
                "source": str(incident.get("component") or incident.get("alarm_name")),
                "severity": PD_SEVERITY[incident["severity"]],
                "timestamp": incident["opened_at"],
                "component": str(incident.get("component", "")),
                "group": self.policy.prefix,
                "class": str(incident.get("alarm_key") or incident.get("kind") or "alarm"),
                # The runbook's incident template, field by field.
                "custom_details": {
                    "Incident ID": incident["id"], "Severity": f"{incident['severity']} ({level.name})",
                    "Start Time": incident["opened_at"], "Affected Systems": incident.get("component"),
                    "Impact": incident.get("impact"), "Alarm": incident.get("alarm_name"),
                    "Alarm ARN": incident.get("alarm_arn"), "Runbook": runbook,
                    "Next Steps": f"Respond within {level.response_minutes} minutes; acknowledge here or with "
                                  f"`opsctl incident ack {incident['id']}`",
                },
            },
        }

    def _routing_key(self, service: str) -> str:
        if service not in self._keys:
            secret = self.deps.client("secretsmanager").get_secret_value(
                SecretId=pagerduty_secret_name(self.policy.prefix, service))["SecretString"]
            key = str(json.loads(secret).get("routing_key", ""))
            if not key:
                # Not put yet: PagerDuty would refuse the event (400) — say the actual cause.
                raise RuntimeError(f"the routing key of PagerDuty service {service!r} is not set: put it in the secret "
                                   f"{pagerduty_secret_name(self.policy.prefix, service)} (docs/deploy.md)")
            self._keys[service] = key
        return self._keys[service]


def _reason(answer: Answer) -> str:
    if answer.status == 0:
        return f"no answer ({answer.body[:200]})"
    try:
        body = json.loads(answer.body)
        return f"{answer.status} {body.get('message', '')}: {'; '.join(map(str, body.get('errors', [])))}"[:500]
    except (ValueError, AttributeError):
        return f"{answer.status} {answer.body[:200]}"


def _note(incident_id: str, service: str, action: str, result: str, reason: str) -> dict[str, Any]:
    return action_note(f"pagerduty.{action}" if action != "-" else "pagerduty.sync", service, result, reason, incident_id)
