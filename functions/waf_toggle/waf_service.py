"""WAF rate limiting, driven by the runbook's "traffic > 10x normal → enable rate limiting".

Triggers (all through the guardrails, each decision recorded in the ledger):
- ops bus "Incident Opened" with remediation waf-rate-limit → flip the rate rule to its blocking action;
- ops bus "Incident Resolved" → a one-time Scheduler check after the hold time;
- task "recovery-check" → back to COUNT once held long enough and traffic has been normal M periods;
- task "outcome-check" → did the traffic alarm clear after we blocked? If not, escalate;
- "CloudFormation Stack Status Change" → a deploy reset the rule to COUNT mid-spike? Re-apply the block;
- task "manual" → `opsctl waf block|unblock`, a human decision recorded as such.

The WebACL may be in a member account (config `waf.account`, `waf.region`): then every call to it
and to its alarms is made there through that account's spoke role, assumed under the decision's id
(for the flip and its outcome check) or the incident's (for confirming the trigger and the recovery
check), so CloudTrail ties each change to its decision record. A role that cannot be assumed fails
the action closed with a P1 blind spot, never a silent skip."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from controlplane import keys
from controlplane.clock import isoformat, parse_timestamp
from controlplane.errors import MalformedEvent, Unreachable
from controlplane.events import INCIDENT_OPENED, INCIDENT_RESOLVED, OPS_SOURCE
from controlplane.guardrails import ActionRequest, Decision, Plan, decision_id
from controlplane.keys import Key
from controlplane.remediation import Remediation
from controlplane.runtime import Dependencies
from rate_limit import RateLimitRule, RuleMissing, WebAcl

logger = logging.getLogger("waf_toggle")
REMEDIATION = "waf-rate-limit"
CAPABILITY = "waf"


class WafService(Remediation):
    capability = CAPABILITY

    def __init__(self, deps: Dependencies) -> None:
        super().__init__(deps)
        self.waf = self.policy.waf
        if not deps.settings.web_acl_id:
            raise RuntimeError("WEB_ACL_ID is not set: the WAF toggle does not know its WebACL")
        self.acl = WebAcl(name=self.waf.web_acl_name, id=deps.settings.web_acl_id, scope=self.waf.scope)
        self.target = f"{self.acl.name}/{self.waf.rule_name}"
        self.in_member = self.waf.account != self.policy.account
        self.where = self.policy.organization.where(self.waf.account, self.waf.region) if self.in_member else None
        self.plan: Plan[dict[str, Any]] = Plan(
            execute=lambda decision, intended, resumed: self._flip(decision, intended["wanted"], resumed=resumed),
            report=lambda decision, result: self.report(decision, self.target, result),
            follow_through=self._follow_through, blind_spot=self._blind_spot)

    # --- dispatch ------------------------------------------------------------------------------

    def handle(self, event: Any) -> list[dict[str, Any]]:
        if not isinstance(event, dict):
            raise MalformedEvent("event is not an object")
        if event.get("source") == OPS_SOURCE and event.get("detail-type") == INCIDENT_OPENED:
            return [self.block(event)]
        if event.get("source") == OPS_SOURCE and event.get("detail-type") == INCIDENT_RESOLVED:
            return [self.schedule_recovery(event)]
        if event.get("detail-type") == "CloudFormation Stack Status Change":
            return self.reconcile(event)
        task = event.get("task")
        handlers = {"recovery-check": self.recovery_check, "outcome-check": self.outcome_check,
                    "manual": self.manual}
        if task in handlers:
            return handlers[task](event)
        raise MalformedEvent(f"not a WAF toggle trigger: source={event.get('source')!r} task={task!r}")

    # --- automation ----------------------------------------------------------------------------

    def block(self, event: dict[str, Any]) -> dict[str, Any]:
        detail = event["detail"]
        request = ActionRequest(
            capability=CAPABILITY, action="waf.block", target=self.target,
            trigger={"kind": event["detail-type"], "event_id": event.get("id"), "alarm": detail.get("alarm_name")},
            trigger_id=detail["transition_id"], event_time=parse_timestamp(event["time"]),
            incident=detail["incident_id"], scope={"alarm": detail["alarm_name"], "component": detail.get("component")},
            thresholds={"multiplier": self.waf.traffic_multiplier, "limit": self.waf.limit,
                        "evaluation_window_seconds": self.waf.evaluation_window_seconds},
        )
        try:
            request.unconfirmed = self._not_a_trigger(detail) or self.unconfirmed(detail)
        except Unreachable as error:
            # The alarm's account cannot be asked: not confirmed, and not a spoof either.
            request.missing_data, request.blind_severity = f"{error}: its alarm cannot be confirmed", "P1"
        # The hub's traffic alarm's threshold is ours (multiplier × baseline): without a baseline it
        # cannot tell a spike from normal traffic. A member account's alarm's threshold is its owner's.
        requires = None if self.in_member else {"baseline": (
            keys.baseline(self.waf.traffic_alarm), "no traffic baseline yet: cannot tell a spike from normal traffic")}
        return self._act(request, self.waf.block_action, requires=requires)

    def schedule_recovery(self, event: dict[str, Any]) -> dict[str, Any]:
        """Traffic is back under the threshold: check again after the hold time (a one-time schedule)."""
        detail = event["detail"]
        state = self.guardrails.target_state(self.target)
        blocked_at = state.get("last_action_at") if state.get("last_action") == "waf.block" else None
        if blocked_at is None:
            return self._note("waf.count", "skipped", "recovery: the rule is not blocking; nothing to undo",
                              detail["incident_id"])
        due = max(parse_timestamp(blocked_at) + timedelta(minutes=self.waf.hold_minutes),
                  parse_timestamp(event["time"]) + self._normal_window())
        self._arm_recovery(detail["incident_id"], due)
        return self._note("waf.count", "scheduled", f"recovery check at {isoformat(due)} (hold "
                          f"{self.waf.hold_minutes} min, {self.waf.normal_periods} normal periods)",
                          detail["incident_id"])

    def _not_a_trigger(self, detail: dict[str, Any]) -> str | None:
        """Only the alarms configured as the toggle's triggers turn rate limiting on."""
        if detail.get("alarm_arn") in self.waf.trigger_alarm_arns:
            return None
        return f"{detail.get('alarm_arn')} is not one of waf.trigger_alarms"

    def recovery_check(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """Back to COUNT once traffic has been normal long enough. Armed when a block is decided
        (before the block itself, so a block is never left without one) and again when its incident
        resolves; while the automation's block stands and traffic is not yet normal, it re-arms."""
        now = self.deps.clock.now()
        state = self.guardrails.target_state(self.target)
        if _a_humans_block(state):
            return [self._note("waf.count", "skipped", f"recovery: the block is {state['decided_by']}'s, left to "
                               "them (or its expiry)", event.get("incident"))]
        # CloudWatch, not the ledger: a claim that the alarm is OK must not lift a block mid-attack.
        # Nor does an alarm that cannot be read: the block stays until it can be (the coverage
        # check pages the unassumable role).
        try:
            alarm, since = self.alarm_now(self.waf.traffic_alarm_arn,
                                          session_name=event.get("incident") or "waf-recovery")
            unknown = ""
        except Unreachable as error:
            alarm, since, unknown = None, None, f"traffic alarm cannot be read ({error})"
        normal_since = since if alarm == "OK" else None
        if normal_since is None or now - normal_since < self._normal_window():
            reason = ("traffic not yet normal long enough" if normal_since else unknown or "traffic alarm is not OK")
            if state.get("last_action") != "waf.block":
                return [self._note("waf.count", "skipped", f"recovery: {reason}, and the rule is not blocking",
                                   event.get("incident"))]
            due = max((normal_since or now) + self._normal_window(),
                      now + timedelta(seconds=self.waf.alarm_period_seconds))
            self._arm_recovery(event.get("incident"), due)
            return [self._note("waf.count", "skipped", f"recovery: {reason}; still blocking, checking again at "
                               f"{isoformat(due)}", event.get("incident"))]
        request = ActionRequest(
            capability=CAPABILITY, action="waf.count", target=self.target,
            trigger={"kind": "recovery-check", "at": event.get("at")}, trigger_id=f"recovery|{event.get('at')}",
            event_time=now, incident=event.get("incident"),
            inputs={"alarm_state": "OK", "normal_since": isoformat(normal_since)},
            thresholds={"hold_minutes": self.waf.hold_minutes, "normal_periods": self.waf.normal_periods},
            cooldown=False,
        )
        return [self._act(request, "COUNT")]

    def outcome_check(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        nothing_to_check = self.unfinished(event, self.target, "P1")
        if nothing_to_check is not None:
            return [nothing_to_check]
        try:
            state, _ = self.alarm_now(self.waf.traffic_alarm_arn, session_name=event["decision"])
        except Unreachable as error:
            return [self.outcome_unknown(event, self.target, error, checking=f"rate limiting on {self.target}",
                                         did=f"set {self.target} to {self.waf.block_action}{self._in()}",
                                         alarm=self.waf.traffic_alarm)]
        cleared = state == "OK"
        self.guardrails.record_outcome(event["decision"], "succeeded" if cleared else "failed",
                                       {"alarm_state": state or "unknown"})
        if not cleared:
            self.page("P1", f"[P1] Rate limiting did not clear {self.waf.traffic_alarm}",
                       f"Decision {event['decision']} set {self.target}{self._in()} to {self.waf.block_action}, but the "
                       f"traffic alarm is still {state or 'unknown'} "
                       f"{self.policy.guardrails.outcome_check_minutes} minutes later. A human is needed.")
        return [self._note("outcome-check", "succeeded" if cleared else "failed",
                           "traffic alarm cleared" if cleared else "traffic alarm still firing: escalated to P1",
                           event.get("incident"))]

    def reconcile(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """A deploy writes the template's COUNT back over a live block: put the block back."""
        status = (event.get("detail") or {}).get("status-details", {}).get("status")
        if status not in ("UPDATE_COMPLETE", "CREATE_COMPLETE") or self.in_member:
            return []  # (our stack's deploys never write a member account's WebACL)
        state = self.guardrails.target_state(self.target)
        if state.get("last_action") != "waf.block":
            return []  # the ledger holds no completed block to restore
        if not _a_humans_block(state):
            alarm, _ = self.alarm_now(self.waf.traffic_alarm_arn)
            if alarm != "ALARM":
                return [self._note("waf.block", "skipped", f"stack update: the traffic alarm is {alarm}, so the "
                                   "automation's block is no longer wanted (its recovery check lifts it)", None)]
        request = ActionRequest(
            capability=CAPABILITY, action="waf.block", target=self.target,
            trigger={"kind": "stack-update", "stack": event.get("resources", ["?"])[0], "event_id": event.get("id")},
            trigger_id=f"reconcile|{event.get('id')}", event_time=parse_timestamp(event["time"]),
            inputs={"ledger_state": "waf.block since " + state["last_action_at"]}, toggles=False, cooldown=False,
        )
        return [self._act(request, self.waf.block_action)]

    # --- humans --------------------------------------------------------------------------------

    def manual(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        if event.get("action") not in ("block", "unblock"):
            raise MalformedEvent(f"manual WAF action must be block or unblock, not {event.get('action')!r}")
        refused = self.unrequested(event, event["action"])
        if refused is not None:
            return [self._note(f"waf.{event['action']}", "refused", f"not run as a human's: {refused}", None)]
        action = {"block": ("waf.block", self.waf.block_action), "unblock": ("waf.count", "COUNT")}[event["action"]]
        now = self.deps.clock.now()
        request = ActionRequest(
            capability=CAPABILITY, action=action[0], target=self.target,
            trigger={"kind": "opsctl", "by": event["by"], "for_minutes": event.get("for_minutes"),
                     "request": event["request"]},
            trigger_id=f"manual|{event['by']}|{isoformat(now)}", event_time=now, decided_by=f"human:{event['by']}",
            cooldown=False, forced=event.get("force_reason"),
        )
        return [self._act(request, action[1], force_dry_run=bool(event.get("dry_run")))]

    # --- shared steps --------------------------------------------------------------------------

    def _act(self, request: ActionRequest, waf_action: str, *, force_dry_run: bool = False,
             requires: dict[str, tuple[Key, str]] | None = None) -> dict[str, Any]:
        rule = None
        if request.missing_data is None and not request.unconfirmed:  # (a possible spoof assumes nothing)
            try:  # in a member account, the spoke role assumed now under the decision's id: the flip uses it
                rule = self.rule(decision_id(request))
            except Unreachable as error:
                request.missing_data, request.blind_severity = f"{error}: {self.target} is not toggled", "P1"

        def dry_run_details(result: str) -> dict[str, Any]:
            if result != "dry_run" or rule is None:
                return {}
            try:
                current = rule.current_action()
            except RuleMissing as missing:
                current = f"unknown ({missing})"
            return {"current_action": current, "would_set": waf_action}

        return self.guardrails.act(request, self.plan, {"wanted": waf_action}, details=dry_run_details,
                                   dry_run=force_dry_run, requires=requires)

    def rule(self, session_name: str) -> RateLimitRule:
        """The rate rule, with a wafv2 client where the WebACL is (see the module's docstring)."""
        interval = self.policy.capabilities[CAPABILITY].min_write_interval_seconds
        client = self.deps.client_in("wafv2", self.waf.account, self.waf.region, session_name=session_name)
        return RateLimitRule(client, self.acl, self.waf.rule_name, sleep=self.deps.sleep,
                             pace=lambda: self.deps.pacer("wafv2", interval))

    def _blind_spot(self, request: ActionRequest) -> None:
        severity = request.blind_severity
        self.page(severity, f"[{severity}] Blind spot: WAF rate limiting is blind ({self.target})",
                  f"{request.missing_data}{self._in()}. Incident {request.incident}: no automated action was taken.")

    def _arm(self, decision: Decision) -> None:
        """The follow-ups of a flip, scheduled before it (again on a retry: a schedule of the same
        name is made once), so they exist whatever happens after: an automated block's outcome
        check and recovery check, a human's `--for` expiry. Each reads the state when it runs."""
        request, decided = decision.request, parse_timestamp(decision.decided_at)
        trigger = request.trigger
        if request.action == "waf.block" and trigger.get("kind") == INCIDENT_OPENED:
            due = decided + timedelta(minutes=self.policy.guardrails.outcome_check_minutes)
            self.deps.schedule(f"waf-outcome-{decision.id}", due, {"task": "outcome-check", "decision": decision.id,
                                                                   "incident": request.incident, "at": isoformat(due),
                                                                   **self._about()})
            self._arm_recovery(request.incident, decided + timedelta(minutes=self.waf.hold_minutes))
        if trigger.get("kind") == "opsctl" and trigger.get("for_minutes"):
            due = decided + timedelta(minutes=int(trigger["for_minutes"]))
            undo = "unblock" if request.action == "waf.block" else "block"
            self.deps.schedule(f"waf-manual-expiry-{decision.id}", due, {
                "task": "manual", "action": undo, "by": f"{trigger['by']} (expiry)", "at": isoformat(due),
                "request": trigger["request"]})

    def _arm_recovery(self, incident: str | None, due: datetime) -> None:
        self.deps.schedule(f"waf-recovery-{incident or 'manual'}-{int(due.timestamp())}", due,
                           {"task": "recovery-check", "incident": incident, "at": isoformat(due), **self._about()})

    def _about(self) -> dict[str, str]:
        """What a check is about, in its payload: a dead-lettered one says which rule and alarm to
        look at before it is redriven (the checks themselves read both from the config)."""
        return {"target": self.target, "alarm": self.waf.traffic_alarm}

    def _flip(self, decision: Decision, waf_action: str, *, resumed: bool) -> dict[str, Any]:
        request = decision.request
        self._arm(decision)
        try:
            flip = self.rule(decision.id).set_action(waf_action)
        except RuleMissing as missing:
            decision.reason = f"fail closed: {missing}"
            self.guardrails.record(decision, "failed", intended=True)
            self.page("P3", f"[P3] Blind spot: {self.target} cannot be toggled", f"{missing}{self._in()}. Incident "
                       f"{request.incident or '-'}: no automated action was taken. Decision {decision.id}.")
            return self.report(decision, self.target, "failed")
        if not flip.changed and not resumed:
            decision.reason = f"already {waf_action}: no write"
            self.guardrails.record(decision, "skipped", {"previous": flip.previous}, intended=True)
            return self.report(decision, self.target, "skipped")
        # Resumed and already in the wanted state: the interrupted delivery's UpdateWebACL went through,
        # from the other of the two actions the rate rule moves between.
        previous = flip.previous if flip.changed else "COUNT" if waf_action != "COUNT" else self.waf.block_action
        blocking = waf_action != "COUNT"
        side_effects = tuple(self.deps.policy.alarm_arn(name) for name in self.waf.side_effect_alarms)
        record = self.guardrails.record(decision, "executed", {"previous": previous, "now": waf_action,
                                                               "attempts": flip.attempts},
                                        extra=self.guardrails.causing(decision, side_effects) if blocking
                                        else self.guardrails.ending(side_effects),
                                        intended=True)
        self._follow_through(record)
        return self.report(decision, self.target, "executed")

    def _follow_through(self, record: dict[str, Any]) -> None:
        """The page of an executed flip, marked done on the decision record (a crash between the page
        and its mark pages again: twice, never lost; the page's id is the same both times)."""
        if record.get("done_follow_through"):
            return
        block = record["action"] == "waf.block"
        details = record["details"]
        self.page("P1" if block else "P2", f"[WAF] {self.target}: {details['previous']} -> {details['now']}",
                  f"{record['action']} on {self.target}{self._in()} ({record['decided_by']}).\nWhy: {record['reason']}; trigger "
                  f"{json.dumps(record['trigger'])}.\nIncident: {record['incident'] or '-'}. Decision: {record['id']}. "
                  f"Config version {record['config_version']}. Undo: `opsctl waf {'unblock' if block else 'block'}`.")
        self.guardrails.mark_done(record["id"], "follow_through")

    def _note(self, kind: str, result: str, reason: str, incident: str | None) -> dict[str, Any]:
        return self.note(kind, self.target, result, reason, incident)

    def _in(self) -> str:
        """Where the WebACL is, for a page: said only when it is not the hub's."""
        return f" in {self.where}" if self.where else ""

    def _normal_window(self) -> timedelta:
        return timedelta(seconds=self.waf.alarm_period_seconds * self.waf.normal_periods)


def _a_humans_block(state: dict[str, Any]) -> bool:
    """The target's ledger state is a block a human set (opsctl): the automation leaves it to them."""
    return state.get("last_action") == "waf.block" and str(state.get("decided_by", "")).startswith("human:")
