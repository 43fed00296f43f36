"""Roll a bad deployment back, automatically inside the bake window or on a human's word.

Triggers (every decision through the guardrails and recorded in the ledger):
- ops bus "Deployment Completed" (or `opsctl deploy record`) → the deployment ledger;
- ops bus "Incident Opened" on an alarm mapped to a target, P0/P1 by default → rollback if the
  target's latest deployment is inside the bake window and the alarm did not already fire before it;
- task "outcome-check" → did the alarm return to OK? If not, escalate to P0;
- task "manual" (`opsctl deploy rollback`) → the same path, recorded as a human decision."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from controlplane.clock import isoformat, parse_timestamp
from controlplane.deployments import DeploymentLedger, QuarantinedVersion
from controlplane.errors import MalformedEvent, Unreachable
from controlplane.events import DEPLOY_SOURCE, DEPLOYMENT_COMPLETED, INCIDENT_OPENED, OPS_SOURCE
from controlplane.guardrails import ActionRequest, Decision, Plan, decision_id
from controlplane.remediation import Remediation
from controlplane.runtime import Dependencies
from strategies import LambdaAlias, StaticSite, Strategy

CAPABILITY = "rollback"


class RollbackService(Remediation):
    capability = CAPABILITY

    def __init__(self, deps: Dependencies) -> None:
        super().__init__(deps)
        self.config = self.policy.rollback
        self.deployments = deps.repository(DeploymentLedger)
        self.plan: Plan[dict[str, Any]] = Plan(
            execute=lambda decision, intended, resumed: self._switch(decision, intended["from"], intended["to"]),
            report=lambda decision, result: self.report(decision, decision.request.target, result),
            follow_through=self._follow_through, blind_spot=self._blind_spot)

    def handle(self, event: Any) -> list[dict[str, Any]]:
        if not isinstance(event, dict):
            raise MalformedEvent("event is not an object")
        if event.get("source") == DEPLOY_SOURCE and event.get("detail-type") == DEPLOYMENT_COMPLETED:
            return [self.record_deployment(event["detail"], at=event["time"])]
        if event.get("source") == OPS_SOURCE and event.get("detail-type") == INCIDENT_OPENED:
            return [self.on_incident(event)]
        if event.get("task") == "outcome-check":
            return [self.outcome_check(event)]
        if event.get("task") == "manual":
            return [self.manual(event)]
        if event.get("task") == "record":
            return [self.record_deployment(event, at=isoformat(self.deps.clock.now()))]
        raise MalformedEvent(f"not a rollback trigger: source={event.get('source')!r} task={event.get('task')!r}")

    # --- deployments ---------------------------------------------------------------------------

    def record_deployment(self, detail: dict[str, Any], *, at: str) -> dict[str, Any]:
        target = str(detail["target"])
        if target not in self.config.targets:
            raise MalformedEvent(f"unknown deployment target {target!r}")
        try:
            entry = self.deployments.record(target, str(detail["version"]), at=isoformat(parse_timestamp(at)),
                                            by=str(detail.get("deployed_by") or "unknown"),
                                            artifact=detail.get("artifact"), force=bool(detail.get("force")))
        except QuarantinedVersion as refused:
            # Not retried: the same record would be refused again. Someone must look (or use --force).
            self.page("P1", f"[DEPLOY] {target} {detail['version']} refused: quarantined", str(refused))
            return self.note("deploy.record", target, "refused", str(refused), None)
        return self.note("deploy.record", target, "recorded", f"{target} {entry['version']} is live", None)

    # --- automatic ------------------------------------------------------------------------------

    def on_incident(self, event: dict[str, Any]) -> dict[str, Any]:
        detail = event["detail"]
        target = self.target_for(detail["alarm_arn"])
        incident = detail["incident_id"]
        if target is None:
            return self.note("rollback", "-", "skipped", f"{detail['alarm_name']} rolls back no target", incident)
        try:
            doubt, unreachable = self.unconfirmed(detail), None
        except Unreachable as error:
            # The alarm's account cannot be asked: not confirmed, and not a spoof either. Below, the
            # same role fails the rollback closed, paged as a blind spot.
            doubt, unreachable = None, str(error)
        if doubt is not None:
            # Before anything else: a forged incident must not even make us page a human.
            request = ActionRequest(
                capability=CAPABILITY, action="rollback", target=target,
                trigger={"kind": INCIDENT_OPENED, "event_id": event.get("id"), "alarm": detail.get("alarm_name")},
                trigger_id=str(detail.get("transition_id")), event_time=parse_timestamp(event["time"]),
                incident=incident, unconfirmed=doubt)
            return self.guardrails.act(request, self.plan, {})
        request = ActionRequest(
            capability=CAPABILITY, action="rollback", target=target,
            trigger={"kind": INCIDENT_OPENED, "event_id": event.get("id"), "alarm": detail["alarm_name"],
                     "severity": detail["severity"]},
            trigger_id=detail["transition_id"], event_time=parse_timestamp(event["time"]), incident=incident,
            scope={"alarm": detail["alarm_name"], "component": detail.get("component")},
            thresholds={"bake_minutes": self.config.bake_minutes},
        )
        # A redelivered trigger first: the checks below read the deployment ledger, which this very
        # trigger's rollback may have moved since.
        earlier = self.guardrails.earlier_record(request)
        if earlier is not None:
            return self.guardrails.resume(earlier, request, self.plan)
        if unreachable is not None:
            request.missing_data, request.blind_severity = f"{unreachable}: its alarm cannot be confirmed", "P1"
            return self.guardrails.act(request, self.plan, {})
        head = self.deployments.head(target)
        if head is not None:
            request.inputs = {"live_version": head["live_version"], "deployed_at": head["live_since"]}
        why = self._nothing_to_roll_back(target, head, detail)
        if why is not None:
            result, reason = why
            if result == "escalated":
                # The page before the record: a crash between pages twice, never not at all.
                assert head is not None
                self.page("P0", f"[P0] {incident}: {target} not rolled back, needs a human",
                          f"{detail['alarm_name']} was already in ALARM ({detail['state_changed_at']}) before "
                          f"{target} {head['live_version']} was deployed ({head['live_since']}), so it is no evidence "
                          f"against that deployment. Escalating instead of rolling back.")
            return self.report(self.guardrails.pass_on(request, reason, result), target, result)
        assert head is not None
        return self.roll_back(request, head["live_version"], to_version=None)

    def _nothing_to_roll_back(self, target: str, head: dict[str, Any] | None,
                              detail: dict[str, Any]) -> tuple[str, str] | None:
        """(result, why) when the incident gives this target nothing to roll back; None: roll back."""
        if head is None:
            return "skipped", f"no deployment of {target} is known"
        now, deployed_at = self.deps.clock.now(), parse_timestamp(head["live_since"])
        if now - deployed_at > timedelta(minutes=self.config.bake_minutes):
            return "skipped", (f"outside the bake window: {head['live_version']} was deployed "
                               f"{int((now - deployed_at).total_seconds() // 60)} min ago (bake {self.config.bake_minutes} min)")
        if parse_timestamp(detail["state_changed_at"]) >= deployed_at:
            return None
        if head.get("rollback_decision"):
            # What was live when the alarm fired has been rolled back since (another alarm's trigger).
            return "skipped", (f"{target} was rolled back to {head['live_version']} ({head['rollback_decision']}) after "
                               f"{detail['alarm_name']} fired: nothing left to roll back")
        # The alarm fired before this deployment: it is no evidence against it. A human decides.
        return "escalated", "alarm predates the deployment: escalated, not rolled back"

    def outcome_check(self, event: dict[str, Any]) -> dict[str, Any]:
        nothing_to_check = self.unfinished(event, event["target"], "P0")
        if nothing_to_check is not None:
            return nothing_to_check
        spec = self.config.targets[event["target"]]
        arn = next(arn for arn in spec.alarm_arns if arn.endswith(f":alarm:{event['alarm']}"))
        try:
            state, _ = self.alarm_now(arn, session_name=event["decision"])
        except Unreachable as error:
            return self.outcome_unknown(event, event["target"], error, checking=f"the rollback of {event['target']}",
                                        did=f"rolled {event['target']} back", alarm=event["alarm"])
        cleared = state == "OK"
        self.guardrails.record_outcome(event["decision"], "succeeded" if cleared else "failed", {"alarm_state": state})
        if not cleared:
            self.page("P0", f"[P0] Rollback of {event['target']} did not clear {event['alarm']}",
                      f"Decision {event['decision']} rolled {event['target']} back, but {event['alarm']} is "
                      f"{state or 'unknown'} {self.config.outcome_minutes} minutes later. Escalated to P0.")
        return self.note("outcome-check", event["target"], "succeeded" if cleared else "failed",
                         "alarm back to OK" if cleared else f"alarm still {state}: escalated to P0",
                         event.get("incident"))

    # --- humans ---------------------------------------------------------------------------------

    def manual(self, event: dict[str, Any]) -> dict[str, Any]:
        target = str(event["target"])
        if target not in self.config.targets:
            raise MalformedEvent(f"unknown target {target!r}")
        refused = self.unrequested(event, "rollback")
        if refused is not None:
            return self.note("rollback", target, "refused", f"not run as a human's: {refused}", None)
        head = self.deployments.head(target)
        if head is None:
            return self.note("rollback", target, "skipped", f"no deployment of {target} is known", None)
        now = self.deps.clock.now()
        request = ActionRequest(
            capability=CAPABILITY, action="rollback", target=target,
            trigger={"kind": "opsctl", "by": event["by"], "to": event.get("to")},
            trigger_id=f"manual|{event['by']}|{isoformat(now)}", event_time=now, decided_by=f"human:{event['by']}",
            inputs={"live_version": head["live_version"], "deployed_at": head["live_since"]}, cooldown=False,
            forced=event.get("force_reason"),
        )
        return self.roll_back(request, head["live_version"], to_version=event.get("to"),
                              force_dry_run=bool(event.get("dry_run")))

    # --- shared ---------------------------------------------------------------------------------

    def roll_back(self, request: ActionRequest, bad: str, *, to_version: str | None,
                  force_dry_run: bool = False) -> dict[str, Any]:
        target = request.target
        if to_version is not None and to_version in self.deployments.quarantined(target):
            request.missing_data = f"{to_version} is quarantined: never a rollback target"
        good = to_version or self.deployments.previous_good(target, bad)
        request.inputs["to_version"] = good
        if good is None and request.missing_data is None:
            request.missing_data = f"no previous good version of {target} is known"
        if request.missing_data is None:
            try:  # the spoke role, assumed now under the decision's id: the switch below uses it
                self.strategy(target, decision_id(request))
            except Unreachable as error:
                request.missing_data, request.blind_severity = f"{error}: {target} is not rolled back", "P1"
        return self.guardrails.act(request, self.plan, {"from": bad, "to": good},
                                   details=lambda result: {"from": bad, "to": good}, dry_run=force_dry_run)

    def _blind_spot(self, request: ActionRequest) -> None:
        severity = request.blind_severity
        self.page(severity, f"[{severity}] Blind spot: cannot roll back {request.target}",
                  f"{request.missing_data}. Incident {request.incident or '-'}: no rollback was made.")

    def _switch(self, decision: Decision, bad: str, good: str) -> dict[str, Any]:
        """Switch (again, after a crash: switching to the version already live changes nothing),
        record the outcome with the deployment ledger's move, then page and schedule the check."""
        target = decision.request.target
        self._arm(decision)
        switched = self.strategy(target, decision.id).switch(good, reference=decision.id)
        at = isoformat(self.deps.clock.now())
        reason = f"rolled back by {decision.request.decided_by} ({decision.id}): {decision.request.incident or 'manual'}"
        try:
            record = self.guardrails.record(
                decision, "executed", switched | {"from": bad, "to": good}, intended=True,
                extra=self.deployments.rollback_operations(target, bad, good, at=at, decision=decision.id, reason=reason))
        except self.deps.client("dynamodb").exceptions.TransactionCanceledException:
            return self._rolled_forward_meanwhile(decision, target, bad, good)
        self._follow_through(record)
        return self.report(decision, target, "executed")

    def _arm(self, decision: Decision) -> None:
        """The outcome check of an automatic rollback, scheduled before the switch (again on a retry:
        a schedule of the same name is made once), so it exists whatever happens after."""
        trigger = decision.request.trigger
        if trigger.get("kind") != INCIDENT_OPENED:
            return
        due = parse_timestamp(decision.decided_at) + timedelta(minutes=self.config.outcome_minutes)
        self.deps.schedule(f"rollback-outcome-{decision.id}", due, {
            "task": "outcome-check", "decision": decision.id, "target": decision.request.target,
            "alarm": trigger["alarm"], "incident": decision.request.incident, "at": isoformat(due)})

    def _follow_through(self, record: dict[str, Any]) -> None:
        """The page of an executed rollback, marked done on the decision record (a crash between the
        page and its mark pages again: twice, never lost; the page's id is the same both times)."""
        if record.get("done_follow_through"):
            return
        target, bad, good = record["target"], record["details"]["from"], record["details"]["to"]
        trigger = record["trigger"]
        self.page(trigger.get("severity", "P1"), f"[ROLLBACK] {target}: {bad} -> {good}",
                  f"{target} rolled back from {bad} to {good} ({record['decided_by']}).\nWhy: "
                  f"{trigger.get('alarm') or 'operator decision'} — incident {record['incident'] or '-'}; "
                  f"{record['reason']}.\n{bad} is quarantined: it will not be rolled back to, and a new deployment "
                  f"of it needs `opsctl deploy record --force`.\nDecision {record['id']}, config {record['config_version']}.")
        self.guardrails.mark_done(record["id"], "follow_through")

    def _rolled_forward_meanwhile(self, decision: Decision, target: str, bad: str, good: str) -> dict[str, Any]:
        """A newer deployment was recorded while we rolled back: the roll-forward wins. Put it back
        live (it may well be the fix) and say so."""
        head = self.deployments.head(target) or {}
        newest = str(head.get("live_version"))
        self.strategy(target, decision.id).switch(newest, reference=f"{decision.id}-forward")
        decision.reason = f"superseded: {target} {newest} was deployed while rolling back to {good}; {newest} kept"
        self.guardrails.record(decision, "superseded", {"from": bad, "to": good, "kept": newest}, intended=True)
        self.page("P1", f"[ROLLBACK] {target}: superseded by {newest}", decision.reason)
        return self.report(decision, target, "superseded")

    def strategy(self, target: str, decision: str) -> Strategy:
        """How to switch `target`, with a client in its account and Region: in a member account the
        spoke role assumed under the decision's id, so CloudTrail ties the change to its record."""
        spec = self.config.targets[target]
        def client(service: str) -> Any:
            return self.deps.client_in(service, spec.account, spec.region, session_name=decision)
        # The config's validator requires each kind's fields (controlplane.config.sections._rollback).
        if spec.kind == "lambda-alias":
            assert spec.function and spec.alias
            return LambdaAlias(client("lambda"), spec.function, spec.alias)
        assert spec.distribution_id and spec.origin_id and spec.entry_paths is not None
        return StaticSite(client("cloudfront"), spec.distribution_id, spec.origin_id, list(spec.entry_paths))

    def target_for(self, alarm: str) -> str | None:
        return next((name for name, spec in self.config.targets.items() if alarm in spec.alarm_arns), None)
