"""Alarm transitions → incidents in the ledger, severity notifications and ops-bus events.

Two AWS calls per transition: one consistent BatchGetItem (alarm record, year counter, whether one
of our own actions set this alarm off, open maintenance windows, the component's latest burst), one
TransactWriteItems (dedup, next incident number, incident, and an OUTBOX item holding the ops-bus
event and the page, all or nothing); a third, the storm parent's GetItem, when the incident joins a
storm or a grouped one clears (storms.py). The table's
stream hands the outbox item to the outbox relay, which sends both: a transition is committed and
announced exactly once, or not at all, whatever fails in between (see functions/outbox_relay)."""

from __future__ import annotations

import dataclasses
import json
import logging
import random
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

import storms
from alarm_parsing import AlarmTransition, Ignored, Rejection, from_described_alarm, parse_delivery
from classification import Classification, classify, section_for
from controlplane.clock import isoformat, parse_timestamp
from controlplane.errors import ConcurrentUpdate, IncidentNotFound
from controlplane.events import INCIDENT_OPENED, INCIDENT_RESOLVED, INCIDENT_UPDATED, MAINTENANCE_ENDED, OPS_SOURCE
from controlplane.ledger import (
    AlarmRead,
    AlarmRecord,
    IncidentChange,
    IncidentLedger,
    Transition,
    incident_id_for,
    record_item,
    resolved_fields,
)
from controlplane.maintenance import PAGES_THROUGH, Window, covering, suppressed_item
from controlplane.policy import BandAlarm, Policy
from controlplane.runtime import Dependencies
from controlplane.windows import WindowLedger
from notification import quoted, render_blind_spot, render_incident, subject_line
from trust import untrusted_reason

logger = logging.getLogger("triage")
# A storm's alarms contend for their component's burst and the year's counter: a loser waits a
# little, at random and longer each time, before reading again, so they do not collide in lockstep.
MAX_COMMIT_ATTEMPTS = 8
CONFLICT_BACKOFF_SECONDS = 0.02


@dataclass
class TriageOutcome:
    # opened | reopened | upgraded | updated | resolved | joined | recorded | blind_spot | duplicate | superseded |
    # rejected | ignored | paged
    result: str
    reason: str
    alarm: str | None = None
    incident: str | None = None
    severity: str | None = None
    stale: bool = False
    notified: str | None = None  # topic severity notified, if any
    suppressed_by: str | None = None  # the maintenance window that held the notification back
    held_back_by: str | None = None  # what held the notification back: a window, or CloudWatch itself
    clock_skew_seconds: int | None = None  # how far ahead of its delivery the reported change time was
    # Where its alarm is (the dashboard counts incidents by these, from the outcome's log line).
    account: str | None = None
    region: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def triage_delivery(event: Any, deps: Dependencies) -> list[TriageOutcome]:
    """Triage every record of one delivery. A bad record is rejected with its reason and the others
    go on; a transient failure is raised after the others are done, so Lambda retries the delivery
    (records already committed are then recognised as duplicates)."""
    if isinstance(event, dict) and event.get("detail-type") == MAINTENANCE_ENDED and event.get("source") == OPS_SOURCE:
        return recheck_after_window(event, deps)
    if isinstance(event, dict) and event.get("task") == "flap-settled":
        return [settle_flapping(event, deps)]
    outcomes: list[TriageOutcome] = []
    failure: Exception | None = None
    for parsed in parse_delivery(event):
        if isinstance(parsed, Rejection):
            outcomes.append(reject(parsed, deps))
            continue
        if isinstance(parsed, Ignored):
            logger.info("ignored event", extra={"ignored_reason": parsed.reason})
            outcomes.append(TriageOutcome(result="ignored", reason=parsed.reason))
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


def triage_transition(transition: AlarmTransition, deps: Dependencies,
                      classification: Classification | None = None) -> TriageOutcome:
    policy = deps.policy
    ledger = deps.repository(IncidentLedger)
    distrust = untrusted_reason(transition, deps)
    if distrust is not None:
        return refuse(transition, distrust, deps)
    band = policy.band_alarms.get(transition.alarm_name) if policy.is_ours(transition.alarm_arn) else None
    if band is not None:
        return _band_transition(transition, band, deps)
    classification = classification or classify(transition, policy)
    stale = _stale(transition, deps)

    for attempt in range(MAX_COMMIT_ATTEMPTS):
        read = ledger.read_alarm(transition.alarm_arn, transition.changed_at.year, classification.component)
        seen = _already_seen(transition, read.record)
        if seen is not None:
            return TriageOutcome(result=seen, reason=f"{seen} delivery via {transition.path}", alarm=transition.alarm_name,
                                 incident=read.record.open_incident, severity=classification.severity)
        planned = _plan(transition, read, classification, deps, stale)
        _group_storm(planned, read, transition, deps)
        if transition.path != "declared":  # a human declaring it is the page; no window holds it back
            _hold_back_in_maintenance(planned, read, transition, classification, deps)
        _hold_back_by_cloudwatch(planned, read, transition)
        _damp_flapping(planned, read, deps)
        try:
            ledger.apply(planned.transition)
        except ConcurrentUpdate:
            # Someone else moved this alarm, took the next number or the burst: read and decide again.
            _back_off(attempt, deps)
            continue
        planned.outcome.stale = stale
        planned.outcome.clock_skew_seconds = transition.clock_skew_seconds
        planned.outcome.account, planned.outcome.region = transition.account, transition.region
        return planned.outcome
    raise ConcurrentUpdate(f"gave up after {MAX_COMMIT_ATTEMPTS} conflicting writes on {transition.alarm_arn}")


def _band_transition(transition: AlarmTransition, band: BandAlarm, deps: Dependencies) -> TriageOutcome:
    """A band's alarm ({alarm}-{severity}) changed: it never opens an incident of its own. In ALARM
    it upgrades the base alarm's open incident to the band's severity (one page, "Upgraded to P1";
    announced as opened again, so escalation re-arms at the new response time and remediations judge
    it at that severity), or, the base alarm not having fired yet, opens the base alarm's incident at
    that severity. Back to OK it is noted, and the incident stays at the higher severity until it
    resolves. Its own record only deduplicates its deliveries."""
    policy, ledger = deps.policy, deps.repository(IncidentLedger)
    base = dataclasses.replace(transition, alarm_arn=policy.alarm_arn(band.alarm), alarm_name=band.alarm)
    classification = dataclasses.replace(classify(base, policy), severity=band.severity)
    year, at = transition.changed_at.year, isoformat(transition.changed_at)
    stale = _stale(transition, deps)
    for attempt in range(MAX_COMMIT_ATTEMPTS):
        own = ledger.read_alarm(transition.alarm_arn, year).record
        seen = _already_seen(transition, own)
        if seen is not None:
            return TriageOutcome(result=seen, reason=f"{seen} delivery of a band's alarm via {transition.path}",
                                 alarm=transition.alarm_name, severity=band.severity)
        read = ledger.read_alarm(base.alarm_arn, year, classification.component)
        record = read.record
        if transition.new_state == "ALARM" and record.open_incident is None:
            break  # the band fired first: the base alarm's incident opens at the band's severity
        marked = dataclasses.replace(own, version=own.version + 1, state=transition.new_state, changed_at=at,
                                     fingerprint=transition.fingerprint)
        planned = _Planned(Transition(alarm=marked, expected_version=own.version),
                           TriageOutcome(result="recorded", reason=f"band {band.severity} {transition.new_state}",
                                         alarm=transition.alarm_name, incident=record.open_incident,
                                         severity=record.open_incident_severity))
        if record.open_incident is not None and transition.new_state in ("ALARM", "OK"):
            entry = {"at": at, "event": "band", "via": transition.path, "alarm": transition.alarm_name,
                     "reason": f"{transition.alarm_name} {transition.new_state}: " + (
                         f"already {record.open_incident_severity}" if transition.new_state == "ALARM"
                         else f"stays {record.open_incident_severity} until resolved")}
            planned.transition.incident_change = IncidentChange(record.open_incident, {}, entry)
            if transition.new_state == "ALARM" and band.severity < str(record.open_incident_severity):
                _upgrade(planned, read, base, classification, own, stale, deps)
        try:
            ledger.apply(planned.transition)
        except ConcurrentUpdate:
            _back_off(attempt, deps)
            continue
        return planned.outcome
    else:
        raise ConcurrentUpdate(f"gave up after {MAX_COMMIT_ATTEMPTS} conflicting writes on {transition.alarm_arn}")
    outcome = triage_transition(base, deps, dataclasses.replace(
        classification, decided_by=f"band:{transition.alarm_name}"))
    outcome.reason = f"{transition.alarm_name} fired before {band.alarm}: {outcome.reason}"
    return outcome


def _stale(transition: AlarmTransition, deps: Dependencies) -> bool:
    """Older than triage.max_event_age_minutes: recorded and announced, never acted on."""
    return deps.clock.now() - transition.changed_at > timedelta(seconds=deps.policy.max_event_age_seconds)


def _back_off(attempt: int, deps: Dependencies) -> None:
    deps.sleep(random.uniform(0, CONFLICT_BACKOFF_SECONDS * 2 ** min(attempt, 4)))


def _upgrade(planned: _Planned, read: AlarmRead, base: AlarmTransition, classification: Classification,
             own: AlarmRecord, stale: bool, deps: Dependencies) -> None:
    """The band's record goes with the base alarm's, which (version-checked) carries the upgrade."""
    record, severity = read.record, classification.severity
    incident_id = str(record.open_incident)
    now = deps.clock.now()
    ack_due = isoformat(deps.policy.ack_due(severity, now))
    change = planned.transition.incident_change
    assert change is not None
    change.set_fields = {"severity": severity, "ack_due_at": ack_due, "upgraded_from": record.open_incident_severity}
    change.timeline_entry |= {"event": "upgraded", "to": severity}
    change.require_status_not = ("RESOLVED",)
    incident = deps.repository(IncidentLedger).get_incident(incident_id) | {"severity": severity, "ack_due_at": ack_due}
    kind = f"Upgraded to {severity} (from {record.open_incident_severity})"
    planned.transition.records.append(record_item(planned.transition.alarm))
    planned.transition.alarm = dataclasses.replace(record, version=record.version + 1, open_incident_severity=severity)
    planned.transition.expected_version = record.version
    planned.transition.outbox = {
        "transition_id": base.fingerprint,
        "event": _ops_event(INCIDENT_OPENED, incident, base, classification, stale, deps),
        "notification": _notification(kind, incident, base, classification, deps, stale)}
    planned.transition.committed_at = isoformat(now)
    planned.outcome = TriageOutcome(result="upgraded", reason=f"{kind} by its band's alarm", alarm=base.alarm_name,
                                    incident=incident_id, severity=severity, notified=severity)
    _group_storm(planned, read, base, deps)
    _hold_back_in_maintenance(planned, read, base, classification, deps)
    _hold_back_by_cloudwatch(planned, read, base)


def declare(*, severity: str, component: str, summary: str, by: str, deps: Dependencies) -> TriageOutcome:
    """A problem a human spots first (opsctl incident declare): an incident with no CloudWatch alarm,
    opened through the same path as an alarm's (numbered, announced on the ops bus, paged, escalated,
    on the status page and in the reports), on a virtual alarm of its own. Only a human ends it
    (`opsctl incident resolve`). Remediations ignore it: no rule maps its alarm to a target."""
    now = deps.clock.now()
    policy = deps.policy
    name = f"{policy.prefix}-declared-{now:%Y%m%d-%H%M%S}"
    transition = AlarmTransition(
        alarm_arn=policy.alarm_arn(name), alarm_name=name, account=policy.account, region=policy.region,
        new_state="ALARM", previous_state="OK", changed_at=now, delivered_at=now, reason=summary, description="",
        path="declared")
    classification = Classification(severity=severity, decided_by=by, remediation=None, component=component,
                                    impact=summary, runbook_section=section_for(severity))
    return triage_transition(transition, deps, classification)


def refuse(transition: AlarmTransition, reason: str, deps: Dependencies) -> TriageOutcome:
    """An untrusted claim opens and resolves nothing. It is counted per hour in the ledger; from the
    configured number of them in one hour on, someone may be probing us: one P1 "Security Threat"
    page for that hour (write_once), whatever the retries."""
    logger.warning("untrusted alarm claim refused", extra={"alarm": transition.alarm_arn, "refusal": reason})
    ledger, now = deps.repository(IncidentLedger), deps.clock.now()
    hour = isoformat(now)[:13]
    claims = ledger.count_refused_claim(alarm_arn=transition.alarm_arn, reason=reason, at=now)
    threshold = deps.policy.intake.suspicious_claims_per_hour
    if claims >= threshold:
        subject = f"[P1] Security Threat: suspicious activity ({claims} untrusted alarm claims since {hour}:00Z)"
        message = (f"{claims} alarm state changes were refused in the hour from {hour}:00Z: they came from accounts "
                   f"we do not accept, or CloudWatch contradicted them. Latest: {quoted(transition.alarm_arn)}: "
                   f"{quoted(reason)}.\nNothing was opened, resolved or remediated because of them. Runbook: "
                   "security incident response. Who can publish to the intake topic or invoke triage?")
        ledger.page_refused_claims(claims=claims, at=now, notification={
            "severity": "P1", "subject": subject, "message": message,
            "attributes": {"kind": "security-threat", "severity": "P1"}})
    return TriageOutcome(result="rejected", reason=f"untrusted: {reason}", alarm=transition.alarm_name)


def settle_flapping(event: dict[str, Any], deps: Dependencies) -> TriageOutcome:
    """The resolution page of a flapping incident, held back until its alarm had stayed OK for
    noise.flap_page_interval_minutes (_damp_flapping): paged now, unless it reopened meanwhile. The
    task is a claim; the ledger decides (still resolved, at the time the task names, not paged yet)."""
    incident_id, resolved_at = event.get("incident"), event.get("resolved_at")
    if not isinstance(incident_id, str) or not isinstance(resolved_at, str):
        return reject(Rejection("flap-settled task without an incident and its resolved_at", event), deps)
    ledger = deps.repository(IncidentLedger)
    try:
        incident = ledger.get_incident(incident_id)
    except IncidentNotFound:
        return reject(Rejection(f"flap-settled task for an incident the ledger does not have: {incident_id}", event), deps)
    if incident["status"] != "RESOLVED" or incident.get("resolved_at") != resolved_at:
        return TriageOutcome(result="recorded", reason="reopened since: its resolution is paged once it settles",
                             alarm=incident["alarm_name"], incident=incident_id, severity=incident["severity"])
    calm = deps.policy.noise.flap_page_interval_minutes
    severity = incident["severity"]
    notification = {
        "severity": severity,
        "subject": subject_line(f"[{severity}] {incident_id} Resolved after flapping: {incident['alarm_name']}"),
        "message": (f"{incident_id} ({incident['alarm_name']}, {incident.get('component')}) flapped "
                    f"{incident.get('flaps', 0)} times since {incident['opened_at']} and has stayed OK since "
                    f"{resolved_at} ({calm} min).\nIts pages were damped while it flapped: the timeline "
                    f"(`opsctl incident show {incident_id}`) has each one held back."),
        "attributes": {"kind": "incident-resolved", "severity": severity, "incident": incident_id},
    }
    if not ledger.page_settled(incident_id, resolved_at=resolved_at, at=isoformat(deps.clock.now()),
                               notification=notification):
        return TriageOutcome(result="duplicate", reason="its settled resolution was paged already",
                             alarm=incident["alarm_name"], incident=incident_id, severity=severity)
    return TriageOutcome(result="paged", reason=f"resolved and OK for {calm} min after flapping", alarm=incident["alarm_name"],
                         incident=incident_id, severity=severity, notified=severity)


def recheck_after_window(event: dict[str, Any], deps: Dependencies) -> list[TriageOutcome]:
    """A maintenance window ended: every alarm in its scope still in ALARM is looked at again, so
    nothing is lost by having been held back. An incident whose page the window held back is paged
    now; an alarm in ALARM with no open incident (its event never reached us, or came while another
    path was muted) opens one; an alarm another window still covers waits for that window's end."""
    window = Window.from_dict(event["detail"]["window"])
    cloudwatch = deps.client("cloudwatch")
    outcomes = []
    described_arns = set()
    for page in cloudwatch.get_paginator("describe_alarms").paginate(
            StateValue="ALARM", AlarmTypes=["MetricAlarm", "CompositeAlarm"]):
        described = [(a, False) for a in page.get("MetricAlarms", [])] + [(a, True) for a in page.get("CompositeAlarms", [])]
        for alarm, composite in described:
            transition = from_described_alarm(alarm, composite, deps.clock.now())
            described_arns.add(transition.alarm_arn)
            classification = classify(transition, deps.policy)
            if window.covers(transition.alarm_name, classification.component):
                outcomes.append(_recheck(transition, classification, window, deps))
    return outcomes + _recheck_virtual(window, described_arns, deps)


def _recheck_virtual(window: Window, described_arns: set[str], deps: Dependencies) -> list[TriageOutcome]:
    """Held-back pages of alarms DescribeAlarms does not list (the backup checks' virtual alarms):
    found through the window's SUPPRESSED items, re-checked from the ledger's record of them."""
    held = {item["alarm_arn"]: item for item in deps.repository(WindowLedger).held_back(window.id)
            if item.get("alarm_arn") and item["alarm_arn"] not in described_arns}
    ledger = deps.repository(IncidentLedger)
    outcomes = []
    for arn, item in sorted(held.items()):
        record = ledger.read_alarm(arn, deps.clock.now().year).record
        if record.state != "ALARM" or record.open_incident_suppressed is None or record.changed_at is None:
            continue  # recovered (its resolution was held back too) or paged already
        account, region = arn.split(":")[4], arn.split(":")[3]
        transition = AlarmTransition(
            alarm_arn=arn, alarm_name=item["alarm"], account=account, region=region, new_state="ALARM",
            previous_state=None, changed_at=parse_timestamp(record.changed_at), delivered_at=deps.clock.now(),
            reason="still in ALARM at the end of the maintenance window", description="", path="recheck",
            namespace=item.get("component"))
        outcomes.append(_recheck(transition, classify(transition, deps.policy), window, deps))
    return outcomes


def _recheck(transition: AlarmTransition, classification: Classification, ended: Window,
             deps: Dependencies) -> TriageOutcome:
    ledger = deps.repository(IncidentLedger)
    name = transition.alarm_name
    for _ in range(MAX_COMMIT_ATTEMPTS):
        read = ledger.read_alarm(transition.alarm_arn, transition.changed_at.year)
        record = read.record
        still = covering(read.windows, name, classification.component, deps.clock.now())
        if still is not None:
            return TriageOutcome(result="recorded", reason=f"still in ALARM; maintenance window {still.id} covers it "
                                 f"until {still.ends_at}", alarm=name, incident=record.open_incident)
        if record.open_incident is None:
            break
        if record.open_incident_suppressed is None:
            return TriageOutcome(result="recorded", reason="still in ALARM; its incident was paged already", alarm=name,
                                 incident=record.open_incident, severity=record.open_incident_severity)
        try:
            return _page_held_back(transition, classification, ended, read, ledger, deps)
        except ConcurrentUpdate:
            continue
    outcome = triage_transition(transition, deps)
    outcome.reason = f"still in ALARM at the end of maintenance window {ended.id}: {outcome.reason}"
    return outcome


def _page_held_back(transition: AlarmTransition, classification: Classification, ended: Window, read: AlarmRead,
                    ledger: IncidentLedger, deps: Dependencies) -> TriageOutcome:
    record = read.record
    incident_id = str(record.open_incident)
    incident = ledger.get_incident(incident_id)
    at = isoformat(deps.clock.now())
    alarm = dataclasses.replace(record, version=record.version + 1, open_incident_suppressed=None)
    change = IncidentChange(incident_id, {"paged_after_window": ended.id},
                            {"at": at, "event": "paged-after-maintenance", "window": ended.id},
                            require_status_not=("RESOLVED",))
    update = {"id": incident_id, "status": incident["status"], "severity": incident["severity"],
              "component": incident["component"]}
    outbox = {
        "transition_id": f"{transition.fingerprint}|after|{ended.id}",
        # For the record only: the automation stood down during the window and a human now has the page.
        "event": _ops_event(INCIDENT_UPDATED, update, transition, classification, True, deps),
        "notification": _notification("Still firing after maintenance", incident, transition, classification, deps,
                                      False),
    }
    ledger.apply(Transition(alarm=alarm, expected_version=record.version, incident_change=change, outbox=outbox,
                            committed_at=at))
    return TriageOutcome(result="paged", reason=f"still in ALARM after maintenance window {ended.id}: held-back page "
                         "sent", alarm=transition.alarm_name, incident=incident_id, severity=incident["severity"],
                         notified=incident["severity"])


def _already_seen(transition: AlarmTransition, record: AlarmRecord) -> str | None:
    if record.fingerprint == transition.fingerprint:
        return "duplicate"
    if _ended_before_it_arrived(transition, record):
        return None  # an outage nobody recorded yet: _plan opens and resolves its incident
    if record.changed_at is not None and record.changed_at > isoformat(transition.changed_at):
        return "superseded"  # an older transition arriving after a newer one changes nothing
    return None


def _ended_before_it_arrived(transition: AlarmTransition, record: AlarmRecord) -> bool:
    """An ALARM whose OK was triaged first (both delivered at once, or the ALARM's delivery was the
    one retried): the OK found no incident to resolve, and no incident since covers this ALARM."""
    at = isoformat(transition.changed_at)
    return (transition.new_state == "ALARM" and record.state == "OK" and record.open_incident is None
            and record.changed_at is not None and record.changed_at > at
            and (record.last_resolved_at is None or record.last_resolved_at < at))


@dataclass
class _Planned:
    transition: Transition
    outcome: TriageOutcome


def _plan(
    transition: AlarmTransition,
    read: AlarmRead,
    classification: Classification,
    deps: Dependencies,
    stale: bool,
) -> _Planned:
    policy = deps.policy
    record, sequence, caused = read.record, read.sequence, read.caused
    at = isoformat(transition.changed_at)
    alarm = dataclasses.replace(record, version=record.version + 1, state=transition.new_state, changed_at=at,
                                fingerprint=transition.fingerprint)
    planned = Transition(alarm=alarm, expected_version=record.version)
    timeline_entry = {"at": at, "event": transition.new_state, "via": transition.path, "reason": transition.reason[:500],
                      "delayed": stale}
    if transition.reported_changed_at is not None:
        # Taken at its delivery time: a change dated in the future would make every real one "older".
        timeline_entry["clock_skew"] = {"reported": isoformat(transition.reported_changed_at),
                                        "seconds_ahead": transition.clock_skew_seconds}
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
    elif _ended_before_it_arrived(transition, record):
        # The record keeps the OK (the alarm's latest state); the outage between gets its incident,
        # opened and resolved at once, paged once, announced resolved (nothing left to remediate).
        ended_at = str(record.changed_at)
        incident = _new_incident(transition, record, sequence + 1, classification, policy, timeline_entry)
        incident |= resolved_fields(incident["opened_at"], ended_at)
        incident["timeline"].append({"at": ended_at, "event": "resolved", "via": "ledger",
                                     "reason": "its OK was delivered first"})
        planned.new_incident, planned.counter = incident, (transition.changed_at.year, sequence + 1)
        planned.alarm = dataclasses.replace(record, version=record.version + 1, last_resolved_incident=incident["id"],
                                            last_resolved_at=ended_at)
        outbox["event"] = _ops_event(INCIDENT_RESOLVED, incident, transition, classification, stale, deps)
        outbox["notification"] = _notification("Opened and resolved", incident, transition, classification, deps,
                                                stale)
        outcome = TriageOutcome(result="opened", reason=f"opened and resolved: its OK ({ended_at}) arrived first",
                                alarm=transition.alarm_name, incident=incident["id"], severity=incident["severity"],
                                notified=incident["severity"])
    elif transition.new_state == "ALARM" and record.open_incident is None and _reopens(transition, record, policy):
        # Back in ALARM soon after resolving: the same incident, flapping (flap damping pages it
        # at most every flap_page_interval_minutes, _damp_flapping), at the higher of its severity
        # and this datapoint's ("P0" sorts first): a signal that got worse is news, never damped.
        reopening, previous = str(record.last_resolved_incident), str(record.last_resolved_severity)
        severity = min(previous, classification.severity)
        opened_at = str(record.last_resolved_opened_at)
        reopened = {"status": "OPEN", "flapping": True, "last_seen_at": at, "reopened_at": at, "severity": severity,
                    "reason": transition.reason[:1000], "escalation_level": 0,
                    "ack_due_at": isoformat(policy.ack_due(severity, transition.changed_at))}
        planned.incident_change = IncidentChange(reopening, reopened, timeline_entry | {"event": "reopened"},
                                                 adds=("occurrences", "flaps"))
        alarm.open_incident, alarm.open_incident_severity, alarm.open_incident_opened_at = reopening, severity, opened_at
        alarm.flaps = record.flaps + 1
        resolve_due = policy.resolve_due(severity, parse_timestamp(opened_at))
        incident = {"id": reopening, "severity": severity, "opened_at": opened_at, "alarm_arn": transition.alarm_arn,
                    "alarm_name": transition.alarm_name, "component": classification.component,
                    "impact": classification.impact, "flaps": alarm.flaps, "resolve_due_at": isoformat(resolve_due)} | reopened
        # Announced as opened again: escalation re-arms from the new acknowledgement deadline, the
        # status page shows it, remediations judge it as any ALARM (their own flap guards apply).
        outbox["event"] = _ops_event(INCIDENT_OPENED, incident, transition, classification, stale, deps)
        upgraded = f", upgraded from {previous}" if severity != previous else ""
        outbox["notification"] = _notification(f"Reopened (flapping #{alarm.flaps}{upgraded})", incident, transition,
                                                classification, deps, stale)
        outcome = TriageOutcome(result="reopened", reason=f"back in ALARM {_minutes_since(record.last_resolved_at, transition)} "
                                f"min after resolving: flapping #{alarm.flaps}{upgraded}", alarm=transition.alarm_name,
                                incident=reopening, severity=severity, notified=severity)
    elif transition.new_state == "ALARM" and record.open_incident is None:
        alarm.flaps = 0
        incident = _new_incident(transition, record, sequence + 1, classification, policy, timeline_entry)
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
                                                 timeline_entry | {"event": "re-triggered"}, adds=("occurrences",))
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
        resolved = resolved_fields(opened_at, at)
        planned.incident_change = IncidentChange(incident_id, resolved, timeline_entry | {"event": "resolved"},
                                                 require_status_not=("RESOLVED",))
        alarm.open_incident, alarm.last_resolved_incident, alarm.last_resolved_at = None, incident_id, at
        alarm.last_resolved_severity, alarm.last_resolved_opened_at = severity, opened_at
        alarm.open_incident_severity = alarm.open_incident_opened_at = alarm.open_incident_suppressed = None
        alarm.open_incident_held_back = None
        incident = {"id": incident_id, "severity": severity, "opened_at": opened_at,
                    "component": classification.component, "impact": classification.impact} | resolved
        outbox["event"] = _ops_event(INCIDENT_RESOLVED, incident, transition, classification, stale, deps)
        outbox["notification"] = _notification("Resolved", incident, transition, classification, deps, stale)
        outcome = TriageOutcome(result="resolved", reason=f"alarm OK after {resolved['time_to_resolve_seconds']} s",
                                alarm=transition.alarm_name, incident=incident_id, severity=severity, notified=severity)
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


def _group_storm(planned: _Planned, read: AlarmRead, transition: AlarmTransition, deps: Dependencies) -> None:
    """Storm grouping (storms.py): the child's event says what it is grouped under; its own page
    gives way to the parent's, or is held back (on its timeline) while the parent speaks for it."""
    storm = storms.plan(planned.transition, planned.outcome.result, read, transition, deps)
    if storm is None:
        return
    planned.transition.grouping = storm.grouping
    outbox = planned.transition.outbox or {}
    if storm.event_detail is not None and "event" in outbox:
        storms.announce(outbox["event"], storm.event_detail)
    if "notification" not in outbox:
        return
    if storm.page is not None:
        outbox["notification"] = storm.page
        planned.outcome.notified = storm.page["severity"]
        planned.outcome.reason += f"; paged as {storm.page['attributes']['incident']}: {storm.page['subject']}"
    elif storm.hold_back is not None:
        _hold_back(planned, {"at": isoformat(deps.clock.now()), "event": "notification-grouped"}, storms.GROUPED,
                   f": {storm.hold_back}")


def _damp_flapping(planned: _Planned, read: AlarmRead, deps: Dependencies) -> None:
    """A flapping incident pages at most every noise.flap_page_interval_minutes, and its resolution
    only once the alarm has stayed OK that long (a check scheduled for then pages it, unless it
    reopened meanwhile). Whatever pages, the alarm's record keeps when."""
    outbox = planned.transition.outbox or {}
    outcome, record = planned.outcome, read.record
    interval = deps.policy.noise.flap_page_interval_minutes
    now = deps.clock.now()
    upgraded = outcome.severity != record.last_resolved_severity
    if outbox.get("notification") is not None and outcome.result == "reopened" and not upgraded \
            and record.last_paged_at and now - parse_timestamp(record.last_paged_at) < timedelta(minutes=interval):
        _hold_back(planned, {"at": isoformat(now), "event": "notification-damped", "last_paged_at": record.last_paged_at},
                   "flap damping", f" (flapping: paged at {record.last_paged_at}, at most once every {interval} min)")
    elif outbox.get("notification") is not None and outcome.result == "resolved" and record.flaps > 0 \
            and record.open_incident_parent is None:  # a storm's child: its parent's resolution is the page
        due = now + timedelta(minutes=interval)
        resolved_at = str(planned.transition.alarm.last_resolved_at)
        # Armed before the write: a crash after it cannot lose the resolution's page.
        deps.schedule(f"flap-settled-{outcome.incident}-{int(due.timestamp())}", due, {
            "task": "flap-settled", "incident": outcome.incident, "resolved_at": resolved_at, "at": isoformat(due)})
        _hold_back(planned, {"at": isoformat(now), "event": "resolution-deferred", "until": isoformat(due)},
                   "flap damping", f" until it has stayed OK for {interval} min (paged at {isoformat(due)} if so)")
    if (planned.transition.outbox or {}).get("notification") is not None:
        planned.transition.alarm.last_paged_at = isoformat(now)


def _reopens(transition: AlarmTransition, record: AlarmRecord, policy: Policy) -> bool:
    """Back in ALARM within noise.reopen_minutes of the OK that resolved its last incident (one triage
    resolved: a human's resolution is final)."""
    if record.last_resolved_incident is None or record.last_resolved_severity is None or record.last_resolved_at is None:
        return False
    return _minutes_since(record.last_resolved_at, transition) < policy.noise.reopen_minutes


def _minutes_since(at: str | None, transition: AlarmTransition) -> int:
    return int((transition.changed_at - parse_timestamp(str(at))).total_seconds() // 60)


def _hold_back_in_maintenance(planned: _Planned, read: AlarmRead, transition: AlarmTransition,
                              classification: Classification, deps: Dependencies) -> None:
    """Inside a maintenance window covering the alarm (by processing time, so a transition delivered
    after the window's end-of-window re-check still pages), a P1–P3 page is held back and recorded:
    on the incident's timeline, on the alarm (so the re-check pages it if it is still firing), and as
    a SUPPRESSED item of the window. P0 always pages. Resolution notices of incidents paged before
    the window still go out: whoever was paged must hear it is over."""
    outbox = planned.transition.outbox or {}
    notification = outbox.get("notification")
    now = deps.clock.now()
    window = covering(read.windows, transition.alarm_name, classification.component, now)
    outcome = planned.outcome
    if notification is None or window is None or notification["severity"] in PAGES_THROUGH:
        return
    if outcome.result == "resolved" and read.record.open_incident_suppressed is None:
        return
    at = isoformat(now)
    alarm = (transition.alarm_arn, transition.alarm_name, classification.component)
    planned.transition.records.append(suppressed_item(window, at, alarm, notification, outcome.incident))
    incident = _hold_back(planned, {"at": at, "event": "notification-suppressed", "window": window.id},
                          f"maintenance window {window.id}", f" by maintenance window {window.id} until {window.ends_at}")
    if incident is not None:
        incident["suppressed_by"] = window.id
        if incident["status"] == "OPEN":  # not for one opened and resolved at once
            planned.transition.alarm.open_incident_suppressed = window.id
    outcome.suppressed_by = window.id


def _hold_back_by_cloudwatch(planned: _Planned, read: AlarmRead, transition: AlarmTransition) -> None:
    """CloudWatch held this transition's actions back (a composite alarm's suppressor, an alarm mute
    rule): the incident is still opened, updated or resolved, so the record stays complete, but
    nobody is paged and no remediation acts on it (_ops_event announces it not actionable). A
    resolution is announced exactly when the opening was (as for maintenance windows): whoever was
    paged must hear it is over, nobody else need."""
    outbox = planned.transition.outbox or {}
    resolved = planned.outcome.result == "resolved"
    held_back = read.record.open_incident_held_back if resolved else transition.held_back_by
    if held_back is None or "notification" not in outbox:
        return
    incident = _hold_back(planned, {"at": isoformat(transition.changed_at), "event": "notification-suppressed",
                                    "by": held_back}, held_back, f": {held_back}")
    if incident is not None:
        incident["held_back_by"] = held_back
        if incident["status"] == "OPEN":
            planned.transition.alarm.open_incident_held_back = held_back


def _hold_back(planned: _Planned, entry: dict[str, Any], held_back_by: str, why: str) -> dict[str, Any] | None:
    """Hold back the planned page, whatever holds it: the timeline says so (`entry` + the subject),
    the outcome says by what. Returns the incident being opened, for the caller to mark."""
    outbox = planned.transition.outbox
    assert outbox is not None
    notification = outbox.pop("notification")
    entry = entry | {"subject": notification["subject"], "held_back_by": held_back_by}
    incident = planned.transition.new_incident if planned.outcome.result == "opened" else None
    if incident is not None:
        incident["timeline"].append(entry)
    elif planned.transition.incident_change is not None:
        planned.transition.incident_change.followed_by.append(entry)
    planned.outcome.notified, planned.outcome.held_back_by = None, held_back_by
    planned.outcome.reason += f"; page held back{why}"
    if "event" not in outbox:
        planned.transition.outbox = None
    return incident


def _new_incident(
    transition: AlarmTransition,
    record: AlarmRecord,
    number: int,
    classification: Classification,
    policy: Policy,
    timeline_entry: dict[str, Any],
) -> dict[str, Any]:
    at = isoformat(transition.changed_at)
    severity = classification.severity
    incident = {
        "id": incident_id_for(transition.changed_at.year, number),
        "severity": severity,
        "status": "OPEN",
        "alarm_arn": transition.alarm_arn,
        "alarm_name": transition.alarm_name,
        "alarm_key": classification.alarm_key,
        "account": transition.account,
        "region": transition.region,
        "component": classification.component,
        "impact": classification.impact,
        **({"scheduled_change": classification.scheduled_change} if classification.scheduled_change else {}),
        "remediation": classification.remediation,
        "classified_by": classification.decided_by,
        "reason": transition.reason[:1000],
        "opened_at": at,
        "last_seen_at": at,
        "occurrences": 1,
        "config_version": policy.config_version,
        # The escalation matrix's clocks: unacknowledged by ack_due_at, or still open at
        # resolve_due_at, and the escalation function pages the next level.
        "ack_due_at": isoformat(policy.ack_due(severity, transition.changed_at)),
        "resolve_due_at": isoformat(policy.resolve_due(severity, transition.changed_at)),
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
    # A resolution is never held back from the remediations: what they started must be undone.
    held_back = transition.held_back_by if detail_type != INCIDENT_RESOLVED else None
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
        # Late deliveries, and changes whose actions CloudWatch held back, are archived for the record
        # but match no remediation rule.
        "actionable": not stale and held_back is None,
        "transition_id": transition.fingerprint,
        "config_version": deps.policy.config_version,
    }
    detail |= {key: incident[key] for key in ("ack_due_at", "resolve_due_at") if key in incident}
    if held_back is not None:
        detail["held_back_by"] = held_back
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
        "attributes": {"kind": "incident-" + kind.split(" (")[0].lower().replace(" ", "-"), "severity": incident["severity"],
                       "incident": incident["id"]},
    }
