"""Alarm transitions → incidents in the ledger, severity notifications and ops-bus events.

Two AWS calls per transition: one consistent BatchGetItem (alarm record, year counter, and whether
one of our own actions set this alarm off), one TransactWriteItems (dedup, next incident number,
incident, and an OUTBOX item holding the ops-bus event and the page, all or nothing). The table's
stream hands the outbox item to the outbox relay, which sends both: a transition is committed and
announced exactly once, or not at all, whatever fails in between (see functions/outbox_relay)."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from alarm_parsing import AlarmTransition, Rejection, parse_delivery
from classification import Classification, classify
from controlplane.clock import isoformat, parse_timestamp
from controlplane.errors import ConcurrentUpdate
from controlplane.events import INCIDENT_OPENED, INCIDENT_RESOLVED, INCIDENT_UPDATED, OPS_SOURCE
from controlplane.ledger import AlarmRecord, IncidentChange, IncidentLedger, Transition
from controlplane.runtime import Dependencies
from notification import render_blind_spot, render_incident

logger = logging.getLogger("triage")
MAX_COMMIT_ATTEMPTS = 4


@dataclass
class TriageOutcome:
    result: str  # opened | updated | resolved | joined | recorded | blind_spot | duplicate | superseded | rejected
    reason: str
    alarm: str | None = None
    incident: str | None = None
    severity: str | None = None
    stale: bool = False
    notified: str | None = None  # topic severity notified, if any

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def triage_delivery(event: Any, deps: Dependencies) -> list[TriageOutcome]:
    """Triage every record of one delivery. A bad record is rejected with its reason and the others
    go on; a transient failure is raised after the others are done, so Lambda retries the delivery
    (records already committed are then recognised as duplicates)."""
    outcomes: list[TriageOutcome] = []
    failure: Exception | None = None
    for parsed in parse_delivery(event):
        if isinstance(parsed, Rejection):
            outcomes.append(reject(parsed, deps))
            continue
        try:
            outcomes.append(triage_transition(parsed, deps))
        except Exception as error:
            logger.exception("triage failed; delivery will be retried", extra={"alarm": parsed.alarm_arn})
            failure = failure or error
    if failure is not None:
        raise failure
    return outcomes


def reject(rejection: Rejection, deps: Dependencies) -> TriageOutcome:
    """Malformed input cannot succeed on retry: log it with its reason and park it on the
    dead-letter queue with that reason, so it is kept for a human and never retried in a loop."""
    logger.error("rejected alarm event", extra={"rejection_reason": rejection.reason})
    deps.client("sqs").send_message(
        QueueUrl=deps.settings.rejects_queue_url,
        MessageBody=json.dumps({"reason": rejection.reason, "record": rejection.record}, default=str)[:250_000],
        MessageAttributes={"rejection_reason": {"DataType": "String", "StringValue": rejection.reason[:1000]}},
    )
    return TriageOutcome(result="rejected", reason=rejection.reason)


def triage_transition(transition: AlarmTransition, deps: Dependencies) -> TriageOutcome:
    policy = deps.policy
    settings = policy.section("triage")
    ledger = IncidentLedger(deps.settings.ledger_table, deps.client("dynamodb"))
    now = deps.clock.now()
    classification = classify(transition, policy)
    stale = now - transition.changed_at > timedelta(seconds=settings["max_event_age_seconds"])

    for _ in range(MAX_COMMIT_ATTEMPTS):
        record, sequence, caused = ledger.read_alarm(transition.alarm_arn, transition.changed_at.year)
        seen = _already_seen(transition, record)
        if seen is not None:
            return TriageOutcome(result=seen, reason=f"{seen} delivery via {transition.path}", alarm=transition.alarm_name,
                                 incident=record.open_incident, severity=classification.severity)
        planned = _plan(transition, record, sequence, classification, deps, stale, caused)
        try:
            ledger.apply(planned.transition)
        except ConcurrentUpdate:
            continue  # someone else moved this alarm (or took the next number): read and decide again
        planned.outcome.stale = stale
        return planned.outcome
    raise ConcurrentUpdate(f"gave up after {MAX_COMMIT_ATTEMPTS} conflicting writes on {transition.alarm_arn}")


def _already_seen(transition: AlarmTransition, record: AlarmRecord) -> str | None:
    if record.fingerprint == transition.fingerprint:
        return "duplicate"
    if record.changed_at is not None and record.changed_at > isoformat(transition.changed_at):
        return "superseded"  # an older transition arriving after a newer one changes nothing
    return None


@dataclass
class _Planned:
    transition: Transition
    outcome: TriageOutcome


def _plan(
    transition: AlarmTransition,
    record: AlarmRecord,
    sequence: int,
    classification: Classification,
    deps: Dependencies,
    stale: bool,
    caused: dict[str, Any] | None = None,
) -> _Planned:
    policy = deps.policy
    at = isoformat(transition.changed_at)
    alarm = AlarmRecord(
        alarm_arn=transition.alarm_arn,
        version=record.version + 1,
        state=transition.new_state,
        changed_at=at,
        fingerprint=transition.fingerprint,
        open_incident=record.open_incident,
        open_incident_severity=record.open_incident_severity,
        open_incident_opened_at=record.open_incident_opened_at,
        last_resolved_incident=record.last_resolved_incident,
        last_resolved_at=record.last_resolved_at,
    )
    planned = Transition(alarm=alarm, expected_version=record.version)
    timeline_entry = {"at": at, "event": transition.new_state, "via": transition.path, "reason": transition.reason[:500],
                      "delayed": stale}
    outcome = TriageOutcome(result="recorded", reason=f"{transition.new_state} with no open incident",
                            alarm=transition.alarm_name, severity=classification.severity)
    outbox: dict[str, Any] = {"transition_id": transition.fingerprint}

    if transition.new_state == "ALARM" and record.open_incident is None and caused and caused.get("incident"):
        # Our own remediation set this alarm off (e.g. blocked requests while rate limiting): it joins
        # the incident that caused it instead of paging again.
        planned.incident_change = IncidentChange(caused["incident"], {},
                                                 timeline_entry | {"event": "side-effect", "alarm": transition.alarm_name,
                                                                   "decision": caused.get("decision")})
        outcome = TriageOutcome(result="joined", reason=f"expected effect of decision {caused.get('decision')}",
                                alarm=transition.alarm_name, incident=caused["incident"], severity=classification.severity)
    elif transition.new_state == "ALARM" and record.open_incident is None:
        incident = _new_incident(transition, record, sequence + 1, classification, policy.config_version, timeline_entry)
        planned.new_incident, planned.counter = incident, (transition.changed_at.year, sequence + 1)
        alarm.open_incident, alarm.open_incident_severity = incident["id"], incident["severity"]
        alarm.open_incident_opened_at = incident["opened_at"]
        outbox["event"] = _ops_event(INCIDENT_OPENED, incident, transition, classification, stale, deps)
        outbox["notification"] = _notification("Opened", incident, transition, classification, deps, stale)
        outcome = TriageOutcome(result="opened", reason=f"classified {classification.severity} by {classification.decided_by}",
                                alarm=transition.alarm_name, incident=incident["id"], severity=incident["severity"],
                                notified=incident["severity"])
    elif transition.new_state == "ALARM":
        incident_id = record.open_incident
        assert incident_id is not None
        planned.incident_change = IncidentChange(incident_id, {"last_seen_at": at, "reason": transition.reason[:1000]},
                                                 timeline_entry | {"event": "re-triggered"}, add_occurrence=True)
        update = {"id": incident_id, "status": "OPEN", "severity": record.open_incident_severity,
                  "component": classification.component, "last_seen_at": at}
        # Re-triggers of an incident already paged for do not page again; remediations still hear of them.
        outbox["event"] = _ops_event(INCIDENT_UPDATED, update, transition, classification, stale, deps)
        outcome = TriageOutcome(result="updated", reason="open incident re-triggered", alarm=transition.alarm_name,
                                incident=incident_id, severity=record.open_incident_severity)
    elif transition.new_state == "OK" and record.open_incident is not None:
        incident_id = record.open_incident
        opened_at = str(record.open_incident_opened_at)
        severity = str(record.open_incident_severity)
        seconds = int((transition.changed_at - parse_timestamp(opened_at)).total_seconds())
        resolved = {"status": "RESOLVED", "resolved_at": at, "time_to_resolve_seconds": seconds}
        planned.incident_change = IncidentChange(incident_id, resolved, timeline_entry | {"event": "resolved"},
                                                 require_status_not=("RESOLVED",))
        alarm.open_incident, alarm.last_resolved_incident, alarm.last_resolved_at = None, incident_id, at
        alarm.open_incident_severity = alarm.open_incident_opened_at = None
        incident = {"id": incident_id, "severity": severity, "opened_at": opened_at,
                    "component": classification.component, "impact": classification.impact} | resolved
        outbox["event"] = _ops_event(INCIDENT_RESOLVED, incident, transition, classification, stale, deps)
        outbox["notification"] = _notification("Resolved", incident, transition, classification, deps, stale)
        outcome = TriageOutcome(result="resolved", reason=f"alarm OK after {seconds} s", alarm=transition.alarm_name,
                                incident=incident_id, severity=severity, notified=severity)
    elif transition.new_state == "INSUFFICIENT_DATA":
        subject, message = render_blind_spot(transition, policy, record.open_incident)
        outbox["notification"] = {"severity": "P3", "subject": subject, "message": message,
                                  "attributes": {"kind": "blind-spot", "severity": "P3"}}
        if record.open_incident is not None:
            planned.incident_change = IncidentChange(record.open_incident, {"last_seen_at": at},
                                                     timeline_entry | {"event": "blind-spot"})
        outcome = TriageOutcome(result="blind_spot", reason="alarm has no data: P3 blind-spot notice",
                                alarm=transition.alarm_name, incident=record.open_incident, severity="P3", notified="P3")

    if len(outbox) > 1:
        planned.outbox, planned.committed_at = outbox, isoformat(deps.clock.now())
    return _Planned(planned, outcome)


def _new_incident(
    transition: AlarmTransition,
    record: AlarmRecord,
    number: int,
    classification: Classification,
    config_version: str,
    timeline_entry: dict[str, Any],
) -> dict[str, Any]:
    at = isoformat(transition.changed_at)
    incident = {
        "id": f"INC-{transition.changed_at.year}-{number:03d}",
        "severity": classification.severity,
        "status": "OPEN",
        "alarm_arn": transition.alarm_arn,
        "alarm_name": transition.alarm_name,
        "alarm_key": classification.alarm_key,
        "account": transition.account,
        "region": transition.region,
        "component": classification.component,
        "impact": classification.impact,
        "remediation": classification.remediation,
        "classified_by": classification.decided_by,
        "reason": transition.reason[:1000],
        "opened_at": at,
        "last_seen_at": at,
        "occurrences": 1,
        "config_version": config_version,
        "timeline": [timeline_entry | {"event": "opened"}],
    }
    if record.last_resolved_incident and record.last_resolved_at:
        # A quick re-fire is worth saying out loud: it may be flapping rather than a new problem.
        gap = transition.changed_at - parse_timestamp(record.last_resolved_at)
        if gap <= timedelta(hours=1):
            incident["previous_incident"] = record.last_resolved_incident
    return incident


def _ops_event(
    detail_type: str,
    incident: dict[str, Any],
    transition: AlarmTransition,
    classification: Classification,
    stale: bool,
    deps: Dependencies,
) -> dict[str, Any]:
    detail = {
        "incident_id": incident["id"],
        "severity": incident["severity"],
        "status": incident["status"],
        "alarm_name": transition.alarm_name,
        "alarm_arn": transition.alarm_arn,
        "alarm_key": classification.alarm_key,
        "alarm_state": transition.new_state,
        "state_changed_at": isoformat(transition.changed_at),
        "component": classification.component,
        "remediation": classification.remediation or "none",
        # Late deliveries are archived for the record but match no remediation rule.
        "actionable": not stale,
        "transition_id": transition.fingerprint,
        "config_version": deps.policy.config_version,
    }
    return {
        "Source": OPS_SOURCE,
        "DetailType": detail_type,
        "Detail": json.dumps(detail, sort_keys=True),
        "EventBusName": deps.settings.ops_bus_name,
        "Resources": [transition.alarm_arn],
        "Time": isoformat(transition.changed_at),
    }


def _notification(
    kind: str,
    incident: dict[str, Any],
    transition: AlarmTransition,
    classification: Classification,
    deps: Dependencies,
    stale: bool,
) -> dict[str, Any]:
    subject, message = render_incident(kind, incident, transition, classification, deps.policy, delayed=stale)
    return {
        "severity": incident["severity"],
        "subject": subject,
        "message": message,
        "attributes": {"kind": f"incident-{kind.lower()}", "severity": incident["severity"], "incident": incident["id"]},
    }
