"""What every remediation function shares: its guardrails, ledger reads, pages and action reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from controlplane.alarms import current_state
from controlplane.clock import isoformat
from controlplane.errors import IncidentNotFound, Unreachable
from controlplane.guardrails import EXECUTING, Decision, Guardrails
from controlplane.ledger import IncidentLedger
from controlplane.notify import PAGE_ID, content_id, publish_page
from controlplane.runtime import Dependencies


def action_note(kind: str, target: str, result: str, reason: str, incident: str | None = None,
                **extra: Any) -> dict[str, Any]:
    """What a function reports of one thing it did or decided not to do (the replay's `actions`)."""
    return {"type": kind, "target": target, "result": result, "reason": reason, "incident": incident, **extra}


class Remediation:
    capability: str

    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps
        self.policy = deps.policy
        self.guardrails = deps.repository(Guardrails)

    def alarm_now(self, alarm_arn: str, *, session_name: str = "hub") -> tuple[str | None, datetime | None]:
        """CloudWatch's view, the truth for acting and for checking what an action did (the ledger
        only records), asked in the alarm's own account and Region: a member account's through its
        spoke role, under `session_name` (raises Unreachable when the role cannot be assumed)."""
        _, _, _, region, account, _, name = alarm_arn.split(":", 6)
        cloudwatch = self.deps.client_in("cloudwatch", account, region, session_name=session_name)
        return current_state(cloudwatch, name)

    def can_ask(self, alarm_arn: str) -> bool:
        """Whether our credentials can ask CloudWatch about this alarm: the hub's own, or a watched
        member account's (through its spoke). An alarm of another allowed account cannot be asked."""
        _, _, _, region, account, _ = alarm_arn.split(":", 5)
        return self.policy.is_local(alarm_arn) or self.policy.organization.watches(account, region)

    def unrequested(self, event: dict[str, Any], action: str) -> str | None:
        """Why a `manual` task is not a human's request (None: it is): the ledger must hold the
        request it names, by the same person, for this action."""
        request_id = event.get("request")
        request = self.guardrails.request(request_id) if isinstance(request_id, str) else None
        if request is None:
            return f"no human request {request_id!r} in the ledger"
        if not str(event.get("by", "")).startswith(str(request["by"])) or action not in request["actions"]:
            return f"request {request_id} is {request['by']}'s for {', '.join(request['actions'])}, not this"
        return None

    def unconfirmed(self, detail: dict[str, Any]) -> str | None:
        """Why the incident an ops-bus event announces must not be acted on, or None. The event is a
        hint anyone allowed to put events on the bus could forge: the ledger must hold the incident,
        open and on the same alarm, and CloudWatch must have that alarm in ALARM."""
        try:
            incident = self.deps.repository(IncidentLedger).get_incident(str(detail["incident_id"]))
        except IncidentNotFound:
            return f"the ledger has no incident {detail['incident_id']}"
        if incident.get("alarm_arn") != detail.get("alarm_arn"):
            return f"incident {incident['id']} is on {incident.get('alarm_arn')}, not {detail.get('alarm_arn')}"
        if incident["status"] == "RESOLVED":
            return f"incident {incident['id']} is resolved"
        if not self.can_ask(incident["alarm_arn"]):
            return None  # another account's alarm: our credentials cannot look (its claim was accepted)
        state, since = self.alarm_now(incident["alarm_arn"], session_name=incident["id"])
        if state != "ALARM":
            if state is None:
                return f"CloudWatch has no alarm {incident['alarm_name']}"
            return f"CloudWatch has {incident['alarm_name']} in {state}" + (f" since {isoformat(since)}" if since else "")
        return None

    def unfinished(self, event: dict[str, Any], target: str, severity: str) -> dict[str, Any] | None:
        """Why an outcome check has nothing to check (None: its decision executed, check it). The
        check is armed before the act: a decision still executing by now never completed (its
        retries are spent and dead-lettered), which a human must finish."""
        record = self.guardrails.decision(event["decision"]) or {"result": "unknown"}
        if record["result"] == "executed":
            return None
        incident = event.get("incident")
        if record["result"] == EXECUTING:
            self.page(severity, f"[{severity}] {record['action']} of {target} did not complete",
                      f"Decision {event['decision']} ({record['reason']}) was recorded, but its action never "
                      f"completed: {target} may be half changed. Check it, then finish or undo it with opsctl. "
                      f"Incident {incident or '-'}.")
            return self.note("outcome-check", target, "failed", "the action never completed: a human is paged", incident)
        return self.note("outcome-check", target, "skipped",
                         f"decision {event['decision']} ended {record['result']}: nothing to check", incident)

    def outcome_unknown(self, event: dict[str, Any], target: str, error: Unreachable, *, checking: str, did: str,
                        alarm: str) -> dict[str, Any]:
        """An outcome check whose alarm's account cannot be asked: recorded `unknown` and said at P1,
        never taken for a success or a failure. `checking`: what the page's subject checks; `did`:
        what the decision did."""
        self.guardrails.record_outcome(event["decision"], "unknown", {"error": str(error)})
        self.page("P1", f"[P1] Blind spot: cannot check {checking}", f"Decision {event['decision']} {did}, but "
                  f"{error}, so whether {alarm} cleared is unknown. Check it in the account.")
        return self.note("outcome-check", target, "failed", str(error), event.get("incident"))

    def page(self, severity: str, subject: str, message: str) -> None:
        publish_page(self.deps.client("sns"), self.deps.settings.notify_topics[severity], subject=subject,
                     message=message, attributes={"kind": self.capability, "severity": severity,
                                                  PAGE_ID: content_id(severity, subject, message)})

    @staticmethod
    def report(decision: Decision, target: str, result: str) -> dict[str, Any]:
        return {"type": decision.request.action, "target": target, "result": result, "reason": decision.reason,
                "incident": decision.request.incident, "decision": decision.id}

    note = staticmethod(action_note)
