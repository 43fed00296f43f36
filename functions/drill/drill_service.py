"""The fire drill: the control plane's own paging proven end to end, through the deployed pipeline.

It sets the dedicated drill alarm (P3, no remediation, a metric nothing publishes) to ALARM with
SetAlarmState, so CloudWatch emits the state change as for any alarm; then it waits for each hop
to leave its mark: the incident committed in the ledger (the transition's OUTBOX item), its
ops-bus event and its page sent (the outbox relay's sent marks). It sets the alarm back to OK and
waits for the resolution the same way. Each hop's latency comes from those recorded times, not
from how often the drill looked.

One drill per occurrence: the run is recorded first under its occurrence (the schedule's time, or
the moment a human started it), so a retried schedule does not drill twice. Whatever happens, the
alarm is set back to OK. A scheduled drill that fails pages P1 straight to the P1 topic: the
pipeline under test is not trusted to report its own failure."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from controlplane import keys
from controlplane.alarms import current_state
from controlplane.clock import isoformat, parse_timestamp
from controlplane.errors import MalformedEvent
from controlplane.events import INCIDENT_OPENED, INCIDENT_RESOLVED
from controlplane.ledger import EVENT_SENT, PAGE_SENT, IncidentLedger, Outbox
from controlplane.notify import PAGE_ID, publish_page
from controlplane.records import Runs
from controlplane.runtime import Dependencies

DRILL_RETENTION_SECONDS = 400 * 24 * 3600  # a year of weekly drills, for the reports' trend
POLL_SECONDS = 2.0
# (name, where it starts, where it ends): times come from the OUTBOX items' commit and sent marks.
HOPS = (
    ("alarm → ledger", "alarm_set", "opened_committed"),
    ("ledger → bus", "opened_committed", "opened_event_sent"),
    ("bus → page", "opened_event_sent", "opened_page_sent"),
    ("OK → resolved", "ok_set", "resolved_committed"),
    ("resolved → page", "resolved_committed", "resolved_page_sent"),
)


@dataclass
class DrillResult:
    drill_id: str
    occurrence: str
    started_by: str
    outcome: str = "running"  # passed | failed | held back | skipped
    reason: str = ""
    incident: str | None = None
    marks: dict[str, str] = field(default_factory=dict)  # what happened when (ISO, milliseconds)
    hops: list[dict[str, Any]] = field(default_factory=list)  # {"hop", "seconds"} in order

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class FireDrill:
    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps
        policy = deps.policy
        self.drill = policy.drill
        self.alarm_name = self.drill.alarm
        self.alarm_arn = policy.alarm_arn(self.alarm_name)
        self.runs, self.incidents, self.outbox = deps.repository(Runs), deps.repository(IncidentLedger), deps.repository(Outbox)
        self.cloudwatch = deps.client("cloudwatch")

    def handle(self, event: Any) -> dict[str, Any]:
        """A scheduled drill ({"task": "drill", "at": …}) pages on failure; one a human started
        ({"task": "drill", "by": …}) reports to them instead."""
        if not isinstance(event, dict) or event.get("task") != "drill":
            raise MalformedEvent('not a drill task (expected {"task": "drill", "at" or "by": …})')
        if isinstance(event.get("by"), str) and event["by"]:
            return self.run(started_by=f"human:{event['by']}", occurrence=isoformat(self.deps.clock.now())).as_dict()
        try:
            occurrence = isoformat(parse_timestamp(str(event["at"])))
        except (KeyError, ValueError) as error:
            raise MalformedEvent(f"drill task without a valid 'at' or 'by': {error}") from error
        result = self.run(started_by="schedule", occurrence=occurrence)
        if result.outcome == "failed":
            self._page_failure(result)
        return result.as_dict()

    def run(self, *, started_by: str, occurrence: str) -> DrillResult:
        now = self.deps.clock.now()
        result = DrillResult(drill_id=f"DRILL-{now.strftime('%Y%m%d-%H%M%S')}", occurrence=occurrence,
                             started_by=started_by)
        if not self._claim(result):
            result.outcome, result.reason = "skipped", f"the drill of {occurrence} has run already"
            return result
        state, _ = current_state(self.cloudwatch, self.alarm_name)
        if state is None or state == "ALARM":
            result.outcome = "failed" if state is None else "skipped"
            result.reason = (f"the drill alarm {self.alarm_name} does not exist" if state is None else
                             f"the drill alarm {self.alarm_name} is in ALARM already (another drill running?)")
            self._record(result)
            return result
        try:
            self._drill(result)
        except Exception as error:
            # Raised on (the function's dead-letter alarm pages P1), and on record as what it was.
            result.outcome, result.reason = "failed", f"the drill itself failed: {type(error).__name__}: {error}"[:500]
            raise
        finally:
            self._set_alarm("OK", "fire drill over")  # never leave the drill alarm firing
            self._record(result)
        return result

    def _drill(self, result: DrillResult) -> None:
        start = self.deps.clock.now()
        self._set_alarm("ALARM", f"fire drill {result.drill_id} ({result.started_by})")
        result.marks["alarm_set"] = isoformat(start)
        opened = self._await_outbox(start, INCIDENT_OPENED, None)
        if opened is None:
            result.outcome, result.reason = "failed", "no incident was opened for the drill alarm in time"
            return
        result.incident = opened["incident"]
        self._note(result, "opened", opened)
        if unsent := _unsent(opened, f"{result.incident}'s opening"):
            result.outcome, result.reason = "failed", unsent
            return
        if "notification" not in opened["item"]:  # triage held the page back: inconclusive, not broken
            result.outcome, result.reason = "held back", f"the P3 page was held back ({self._held_back_by(result.incident)})"
        ok_at = self.deps.clock.now()
        self._set_alarm("OK", f"fire drill {result.drill_id} over")
        result.marks["ok_set"] = isoformat(ok_at)
        resolved = self._await_outbox(ok_at, INCIDENT_RESOLVED, result.incident)
        if resolved is None:
            result.outcome, result.reason = "failed", f"{result.incident} was not resolved in time"
            return
        self._note(result, "resolved", resolved)
        if unsent := _unsent(resolved, f"{result.incident}'s resolution"):
            result.outcome, result.reason = "failed", unsent
        elif result.outcome != "held back":
            result.outcome, result.reason = "passed", "every hop within the drill's time limit"

    def _note(self, result: DrillResult, step: str, found: dict[str, Any]) -> None:
        item = found["item"]
        result.marks[f"{step}_committed"] = keys.committed_at(item)
        for mark, name in ((EVENT_SENT, f"{step}_event_sent"), (PAGE_SENT, f"{step}_page_sent")):
            if mark in item:
                result.marks[name] = str(item[mark])
        result.hops = [{"hop": hop, "seconds": round((parse_timestamp(result.marks[end]) -
                                                      parse_timestamp(result.marks[begin])).total_seconds(), 3)}
                       for hop, begin, end in HOPS if begin in result.marks and end in result.marks]

    def _await_outbox(self, since: datetime, detail_type: str, incident: str | None) -> dict[str, Any] | None:
        """Wait for the drill alarm's transition committed since `since` and for the relay to mark
        both of its steps sent (or the page held back). Bounded by polls, not by the clock, so a
        clock that does not move (an emulator) cannot hang it."""
        found = None
        for _ in range(math.ceil(self.drill.timeout_seconds / POLL_SECONDS)):
            found = self._outbox_since(since, detail_type, incident)
            if found is not None and not _unsent(found, ""):
                return found
            self.deps.sleep(POLL_SECONDS)
        return found

    def _outbox_since(self, since: datetime, detail_type: str, incident: str | None) -> dict[str, Any] | None:
        for item in self.outbox.since(isoformat(since)):
            entry = item.get("event") or {}
            if entry.get("DetailType") != detail_type:
                continue
            detail = json.loads(entry.get("Detail") or "{}")
            if detail.get("alarm_arn") == self.alarm_arn and incident in (None, detail.get("incident_id")):
                return {"item": item, "detail": detail, "incident": detail.get("incident_id")}
        return None

    def _held_back_by(self, incident_id: str) -> str:
        incident = self.incidents.get_incident(incident_id)
        if incident.get("suppressed_by"):
            return f"maintenance window {incident['suppressed_by']}"
        return str(incident.get("held_back_by") or "no reason on record")

    def _set_alarm(self, state: str, reason: str) -> None:
        self.cloudwatch.set_alarm_state(AlarmName=self.alarm_name, StateValue=state, StateReason=reason[:1023])

    def _claim(self, result: DrillResult) -> bool:
        expires = int(self.deps.clock.now().timestamp()) + DRILL_RETENTION_SECONDS
        return self.runs.claim_drill(result.occurrence, {"expires_at": expires} | result.as_dict())

    def _record(self, result: DrillResult) -> None:
        self.runs.record_drill(result.occurrence, {k: v for k, v in result.as_dict().items()
                                                   if k != "occurrence" and v is not None})

    def _page_failure(self, result: DrillResult) -> None:
        hops = "\n".join(f"- {h['hop']}: {h['seconds']} s" for h in result.hops) or "- no hop completed"
        publish_page(
            self.deps.client("sns"), self.deps.settings.notify_topics["P1"],
            subject=f"[P1] Fire drill failed: {result.reason}",
            message=(f"The weekly fire drill of the paging pipeline failed: {result.reason}.\n\n"
                     f"Drill {result.drill_id}, alarm {self.alarm_name}, incident {result.incident or '-'}.\n"
                     f"Hops that completed:\n{hops}\n\n"
                     "Until this is understood, pages may not be reaching on-call: check the triage and outbox "
                     "relay dead-letter queues and run `opsctl verify`, then `opsctl drill`."),
            attributes={"kind": "drill-failed", "severity": "P1", PAGE_ID: f"drill-failed|{result.drill_id}"})



def _unsent(found: dict[str, Any], what: str) -> str:
    """What the relay has not sent yet of a transition: its ops-bus event, or its page (one was due
    unless triage held it back, which leaves no notification in the outbox)."""
    item = found["item"]
    if EVENT_SENT not in item:
        return f"the ops-bus event of {what} was not sent in time"
    if "notification" in item and PAGE_SENT not in item:
        return f"the page of {what} was not sent in time"
    return ""
