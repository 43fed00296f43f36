"""The one gate every remediation passes: execute, dry-run or skip, and why, recorded in the ledger.

Checks, in order (the first that stops an action names the reason):
  duplicate trigger → unconfirmed (the ledger or CloudWatch contradicts the trigger) → kill switch
  → capability pause → maintenance window covering the action's alarm or component (all three:
  automation only) → stale event
  → missing data (fail closed) → mode dry-run → per-target cooldown (automation only) → flap guard
  → global hourly action budget.

Ledger items (controlplane.keys):
  the kill switch and pauses   {until, by, reason}
  a target's state             {last_action, last_action_at, decided_by, toggles: [iso, …]} (last hour),
                               and while an action on it is under way {acting, acting_until}
  the hour's budget            {count}
  a decision record            listed by decision time (keys.DECISIONS)
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from botocore.exceptions import ClientError

from controlplane import keys
from controlplane.clock import isoformat, parse_timestamp
from controlplane.keys import Key
from controlplane.ledger import iter_listing, key_item, read_item, read_items, read_partition, to_item
from controlplane.maintenance import covering, windows_of
from controlplane.policy import Policy
from controlplane.repository import INDEX_QUERY, Repository, takes

if TYPE_CHECKING:
    from controlplane.runtime import Dependencies

EXECUTE, DRY_RUN, SKIP = "execute", "dry_run", "skip"
logger = logging.getLogger("guardrails")


class Check(StrEnum):
    """The guardrail that stopped (or, for dry-run mode and a human's force, shaped) an action."""

    DUPLICATE = "duplicate"
    UNCONFIRMED = "unconfirmed"
    KILL_SWITCH = "kill_switch"
    PAUSED = "paused"
    MAINTENANCE = "maintenance"
    STALE = "stale"
    MISSING_DATA = "missing_data"  # fail closed
    DRY_RUN_MODE = "dry_run_mode"
    FORCED = "forced"
    COOLDOWN = "cooldown"
    FLAP_GUARD = "flap_guard"
    BUDGET = "budget"
    CONCURRENT = "concurrent"  # another action on the same target was decided at the same time and went first
    NOTHING_TO_DO = "nothing_to_do"  # the capability's own preconditions: e.g. no deployment to roll back

# A decision recorded before its action ran (`Guardrails.intend`): a retry finds it and finishes.
EXECUTING = "executing"


@dataclass
class ActionRequest:
    """What a remediation wants to do, and everything it based that on."""

    capability: str
    action: str  # e.g. "waf.block"
    target: str
    trigger: dict[str, Any]  # the event that asked for it: kind, id, incident, …
    trigger_id: str  # stable per trigger: a redelivery of the same trigger is the same decision
    event_time: datetime
    inputs: dict[str, Any] = field(default_factory=dict)
    thresholds: dict[str, Any] = field(default_factory=dict)
    incident: str | None = None
    missing_data: str | None = None  # set when a required input could not be read: fail closed
    # How loud that blind spot is: an input that does not exist yet is P3; a member account the hub
    # cannot reach at all (its spoke role) is P1.
    blind_severity: str = "P3"
    decided_by: str = "automation"  # or "human:<name>" for opsctl
    toggles: bool = True  # counts against the flap guard
    cooldown: bool = True  # humans, scheduled follow-ups and reconciliation are not cooled down
    # The alarm and component an incident-triggered action is about: a maintenance window covering
    # either pauses it. Follow-ups that check or undo an earlier action have none and carry on.
    scope: dict[str, Any] | None = None
    # Set when the ledger or CloudWatch contradicts the event that asked for the action (the event
    # is a claim; they are the truth): nothing moves, and the record says it may be a spoof.
    unconfirmed: str | None = None
    # A human's `--force --reason`: passes the cooldown, the flap guard and the budget (never the
    # checks that protect data: duplicates, stale events, missing data), recorded with the reason.
    forced: str | None = None


@dataclass
class Decision:
    id: str
    verdict: str
    reason: str
    request: ActionRequest
    decided_at: str
    config_version: str
    mode: str
    recent_toggles: list[str] = field(default_factory=list)  # the target's toggles in the last hour
    earlier: dict[str, Any] | None = None  # a duplicate's: the record made for the trigger before
    check: Check | None = None  # the guardrail that decided it; None: all passed
    # The target's last action as `decide` read it: `intend` claims the target only if it is unchanged.
    target_last_action_at: str | None = None

    @property
    def duplicate(self) -> bool:
        return self.check == Check.DUPLICATE

    @classmethod
    def resumed(cls, earlier: dict[str, Any], request: ActionRequest) -> Decision:
        """The decision an earlier delivery of the same trigger recorded, to finish its steps."""
        return cls(earlier["id"], earlier["verdict"], earlier["reason"], request, earlier["decided_at"],
                   earlier["config_version"], earlier["mode"], earlier=earlier, check=Check.DUPLICATE)

    def record(self, result: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
        request = asdict(self.request)
        request["event_time"] = isoformat(self.request.event_time)
        return {
            "id": self.id, "capability": self.request.capability, "action": self.request.action,
            "target": self.request.target, "verdict": self.verdict, "reason": self.reason, "result": result,
            "check": self.check.value if self.check else None,
            "details": details or {}, "decided_at": self.decided_at, "decided_by": self.request.decided_by,
            "mode": self.mode, "config_version": self.config_version, "incident": self.request.incident,
            "trigger": request["trigger"], "inputs": request["inputs"], "thresholds": request["thresholds"],
        }


Report = TypeVar("Report")


@dataclass(frozen=True)
class Plan(Generic[Report]):
    """How one capability carries out what the guardrails let through (`Guardrails.act`)."""

    # (decision, what was intended, resumed) → its report: does the act (again, when resumed after a
    # crash: an act already done counts as done) and records its result with `record(…, intended=True)`.
    execute: Callable[[Decision, dict[str, Any], bool], Report]
    report: Callable[[Decision, str], Report]  # the report of a decision that did not execute
    # The steps after an executed decision's record (its page), each marked done on the record.
    follow_through: Callable[[dict[str, Any]], None] = lambda record: None
    blind_spot: Callable[[ActionRequest], None] | None = None  # pages that the automation cannot see (fail closed)


def decision_id(request: ActionRequest) -> str:
    digest = hashlib.sha256(f"{request.capability}|{request.action}|{request.target}|{request.trigger_id}".encode())
    return "DEC-" + digest.hexdigest()[:16]


class Guardrails(Repository):
    """The checks, and the ledger's decisions and guardrail state: decision records, each target's
    state, the hour's budget, the kill switch and pauses, humans' requests, the alarms our actions
    set off."""

    def __init__(self, client: Any, table: str, *, policy: Policy, clock: Any) -> None:
        super().__init__(client, table)
        self.policy = policy
        self.clock = clock

    @classmethod
    def of(cls, deps: Dependencies) -> Self:
        return cls(deps.client("dynamodb"), deps.settings.ledger_table, policy=deps.policy, clock=deps.clock)

    # --- deciding ------------------------------------------------------------------------------

    @takes("BatchGetItem")
    def decide(self, request: ActionRequest, requires: dict[str, tuple[Key, str]] | None = None) -> Decision:
        """One consistent read of everything the checks need (and of the ledger items the action
        `requires`: name → (key, what it means when missing)), then the checks in order."""
        now = self.clock.now()
        capability = self.policy.capabilities[request.capability]
        limits = self.policy.guardrails
        ident = decision_id(request)
        state = self._read(request, ident, now, {name: key for name, (key, _) in (requires or {}).items()})
        for name, (_, meaning) in (requires or {}).items():
            request.inputs[name] = state["required"][name]
            if state["required"][name] is None and request.missing_data is None:
                request.missing_data = meaning
        mode = capability.mode

        target = state["target"] or {}
        recent = [t for t in target.get("toggles", []) if t > isoformat(now - timedelta(hours=1))]

        def verdict(kind: str, reason: str, check: Check | None = None) -> Decision:
            return Decision(ident, kind, reason, request, isoformat(now), self.policy.config_version, mode,
                            recent, check=check, target_last_action_at=target.get("last_action_at"))

        if state["decision"] is not None:
            duplicate = verdict(SKIP, f"already decided ({state['decision']['verdict']}) for this trigger", Check.DUPLICATE)
            duplicate.earlier = state["decision"]
            return duplicate
        if request.unconfirmed:
            return verdict(SKIP, f"unconfirmed: {request.unconfirmed} (a possible spoof)", Check.UNCONFIRMED)
        # The kill switch and pauses stop the automation; a human on call acting through opsctl is
        # exactly who they hand control to, so they do not stop humans.
        human = request.decided_by.startswith("human:")
        for control, label, check in ((state["kill"], "kill switch is on", Check.KILL_SWITCH),
                                      (state["pause"], f"{request.capability} is paused", Check.PAUSED)):
            if control and control["until"] > isoformat(now) and not human:
                return verdict(SKIP, f"{label} until {control['until']} ({control.get('reason') or 'no reason given'})",
                               check)
        scope = request.scope
        window = covering(windows_of(state["maintenance"]), scope["alarm"], scope.get("component"), now) \
            if scope and not human else None
        if scope and window is not None:
            return verdict(SKIP, f"maintenance window {window.id} until {window.ends_at} covers "
                                 f"{scope['alarm']} ({window.message}): automation paused in its scope", Check.MAINTENANCE)
        age = now - request.event_time
        if age > timedelta(minutes=limits.max_event_age_minutes):
            return verdict(SKIP, f"stale event: {int(age.total_seconds() // 60)} min old "
                                 f"(limit {limits.max_event_age_minutes} min)", Check.STALE)
        if request.missing_data:
            return verdict(SKIP, f"fail closed: {request.missing_data}", Check.MISSING_DATA)
        if mode == "dry-run" and not human:
            # Shadow mode is for the automation; a human asks for a dry run with --dry-run.
            return verdict(DRY_RUN, f"{request.capability} is in dry-run mode: decision recorded, nothing written",
                           Check.DRY_RUN_MODE)
        if human and request.forced:
            return verdict(EXECUTE, f"forced by {request.decided_by} past cooldown, flap guard and budget: "
                                    f"{request.forced}", Check.FORCED)
        cooldown = timedelta(minutes=capability.cooldown_minutes)
        if request.cooldown and target.get("last_action_at") \
                and parse_timestamp(target["last_action_at"]) > now - cooldown:
            return verdict(SKIP, f"cooldown: {request.target} was last changed at {target['last_action_at']} "
                                 f"({capability.cooldown_minutes} min cooldown)", Check.COOLDOWN)
        if request.toggles and len(recent) >= capability.max_toggles_per_hour:
            return verdict(SKIP, f"flap guard: {len(recent)} toggles of {request.target} in the last hour "
                                 f"(limit {capability.max_toggles_per_hour})", Check.FLAP_GUARD)
        if state["budget"] >= limits.action_budget_per_hour:
            return verdict(SKIP, f"action budget spent: {state['budget']} actions this hour "
                                 f"(limit {limits.action_budget_per_hour})", Check.BUDGET)
        return verdict(EXECUTE, "all guardrails passed")

    def act(self, request: ActionRequest, plan: Plan[Report], intended: dict[str, Any], *,
            details: Callable[[str], dict[str, Any]] | None = None, dry_run: bool = False,
            requires: dict[str, tuple[Key, str]] | None = None) -> Report:
        """Decide → record → intend → execute → follow through, the same for every capability.
        `intended` is what the act will do (recorded before it; a retry redoes the act from it),
        `details` what a dry run or a skip records, `dry_run` a human's request for one."""
        decision = self.decide(request, requires)
        if dry_run and decision.verdict == EXECUTE:
            decision.verdict, decision.reason, decision.mode = DRY_RUN, "dry run requested", "dry-run"
        if decision.earlier is not None:
            return self.resume(decision.earlier, request, plan)
        if decision.check == Check.MISSING_DATA and plan.blind_spot is not None:
            plan.blind_spot(request)
        if decision.verdict != EXECUTE:
            result = "dry_run" if decision.verdict == DRY_RUN else "skipped"
            self.record(decision, result, details(result) if details else None)
            return plan.report(decision, result)
        if not self.intend(decision, intended):
            return plan.report(decision, "skipped")
        return plan.execute(decision, intended, False)

    def resume(self, earlier: dict[str, Any], request: ActionRequest, plan: Plan[Report]) -> Report:
        """The trigger was decided before: finish what that delivery may not have (a crash after the
        decision, after the act or after its record), never decide again."""
        decision = Decision.resumed(earlier, request)
        if earlier["result"] == EXECUTING:
            return plan.execute(decision, earlier["details"], True)
        if earlier["result"] == "executed":
            plan.follow_through(earlier)
        decision.reason = f"already decided ({earlier['verdict']}) for this trigger"
        return plan.report(decision, "skipped")

    @takes("GetItem")
    def earlier_record(self, request: ActionRequest) -> dict[str, Any] | None:
        """The decision record already made for this trigger, if any (one consistent read)."""
        return read_item(self.client, self.table, keys.decision(decision_id(request)))

    def _read(self, request: ActionRequest, ident: str, now: datetime,
              required: dict[str, Key]) -> dict[str, Any]:
        wanted = {
            "kill": keys.KILL_SWITCH,
            "pause": keys.pause(request.capability),
            "target": keys.target(request.target),
            "budget": keys.budget(isoformat(now)),
            "decision": keys.decision(ident),
            "maintenance": keys.MAINTENANCE,
            **{f"required:{name}": key for name, key in required.items()},
        }
        found = {keys.key_of(i): i for i in read_items(self.client, self.table, list(wanted.values()))}
        state: dict[str, Any] = {name: found.get(key) for name, key in wanted.items()}
        state["budget"] = int((state["budget"] or {}).get("count", 0))
        state["required"] = {name: state.pop(f"required:{name}") for name in required}
        return state

    # --- recording -----------------------------------------------------------------------------

    @takes("PutItem", "UpdateItem")
    def intend(self, decision: Decision, details: dict[str, Any]) -> bool:
        """Record the decision to act, before acting (result `executing`), in one transaction with its
        slot of the hour's action budget and its claim on the target: whatever happens after the act,
        a retry of the trigger finds the record and finishes instead of deciding again; and what
        `decide` read may be stale by now, so two actions at once can neither both take the budget's
        last slot nor both act on one target (the claim holds while the target is as `decide` read it
        and no other action is under way on it).
        False: a concurrent action went first; the decision is recorded as skipped for it."""
        record = decision.record(EXECUTING, details)
        limit = self.policy.guardrails.action_budget_per_hour
        forced = decision.check == Check.FORCED  # a human's --force passes the budget and the target's state
        slot: dict[str, Any] = {"TableName": self.table, "Key": key_item(keys.budget(decision.decided_at)),
                                "UpdateExpression": "ADD #count :one", "ExpressionAttributeNames": {"#count": "count"}}
        slot_values: dict[str, Any] = {":one": 1}
        if not forced:
            slot["ConditionExpression"] = "attribute_not_exists(#count) OR #count < :limit"
            slot_values[":limit"] = limit
        slot["ExpressionAttributeValues"] = to_item(slot_values)
        # Until the outcome check: by then an action still under way never completed (a human is paged).
        until = parse_timestamp(decision.decided_at) + timedelta(minutes=self.policy.guardrails.outcome_check_minutes)
        claim: dict[str, Any] = {
            "TableName": self.table, "Key": key_item(keys.target(decision.request.target)),
            "UpdateExpression": "SET acting = :id, acting_until = :until"}
        claim_values: dict[str, Any] = {":id": decision.id, ":until": isoformat(until)}
        if not forced:
            unchanged = "attribute_not_exists(last_action_at)" if decision.target_last_action_at is None \
                else "last_action_at = :seen"
            claim["ConditionExpression"] = f"({unchanged}) AND (attribute_not_exists(acting) OR acting_until < :now)"
            claim_values |= {":now": decision.decided_at} | (
                {":seen": decision.target_last_action_at} if decision.target_last_action_at is not None else {})
        claim["ExpressionAttributeValues"] = to_item(claim_values)
        try:
            self.client.transact_write_items(TransactItems=[
                {"Put": {"TableName": self.table, "ConditionExpression": keys.ABSENT, "Item": to_item(
                    keys.decision(decision.id).item(record, listed_in=keys.DECISIONS, listed_at=decision.decided_at))}},
                {"Update": slot},
                {"Update": claim},
            ])
        except self.client.exceptions.TransactionCanceledException as error:
            reasons = [reason.get("Code") for reason in error.response.get("CancellationReasons", [])]
            if reasons[:1] != ["None"] or not set(reasons[1:]) <= {"None", "ConditionalCheckFailed"}:
                raise  # not a concurrent action (the same trigger decided concurrently): Lambda retries and finds it
            decision.verdict = SKIP
            if reasons[1:2] == ["ConditionalCheckFailed"]:
                decision.check = Check.BUDGET
                decision.reason = f"action budget spent: a concurrent action took this hour's last slot (limit {limit})"
            else:
                decision.check = Check.CONCURRENT
                decision.reason = f"{decision.request.target} changed or is being changed by a concurrent action"
            self.record(decision, "skipped")
            return False
        return True

    @takes("PutItem", "UpdateItem")
    def record(self, decision: Decision, result: str, details: dict[str, Any] | None = None, *,
               extra: list[dict[str, Any]] | None = None, intended: bool = False) -> dict[str, Any]:
        """One ledger write: the decision record (or, `intended`, the outcome of the one `intend`
        wrote) and, for an executed change, the target's state and the capability's own items
        (`extra`: e.g. `causing`, `ending`), atomically (the budget's slot was taken by `intend`).
        A redelivered trigger cannot record twice."""
        record = decision.record(result, details)
        now = decision.decided_at
        key = keys.decision(decision.id)
        operations: list[dict[str, Any]] = [{"Update": {
            "TableName": self.table, "Key": key_item(key),
            "UpdateExpression": "SET #result = :result, details = :details, reason = :reason",
            "ConditionExpression": "#result = :executing", "ExpressionAttributeNames": {"#result": "result"},
            "ExpressionAttributeValues": to_item({":result": result, ":details": record["details"],
                                                  ":reason": record["reason"], ":executing": EXECUTING}),
        }} if intended else {"Put": {
            "TableName": self.table,
            "Item": to_item(key.item(record, listed_in=keys.DECISIONS, listed_at=now)),
            "ConditionExpression": keys.ABSENT,
        }}]
        if result == "executed":
            toggles = [*decision.recent_toggles, now] if decision.request.toggles else decision.recent_toggles
            # A Put: the target's new state, and its claim (`acting`) released.
            operations.append({"Put": {"TableName": self.table, "Item": to_item(keys.target(decision.request.target).item({
                "last_action": decision.request.action, "last_action_at": now, "toggles": toggles,
                "decided_by": decision.request.decided_by,
            }))}})
        elif intended:
            # Nothing was changed for good (already in the wanted state, no rule to flip, rolled
            # forward meanwhile): the target's claim that `intend` took goes back, and so does the
            # budget's slot unless something was written.
            operations.append({"Update": {"TableName": self.table, "Key": key_item(keys.target(decision.request.target)),
                                          "UpdateExpression": "REMOVE acting, acting_until"}})
            if result in ("skipped", "failed"):
                operations.append({"Update": {
                    "TableName": self.table, "Key": key_item(keys.budget(now)),
                    "UpdateExpression": "ADD #count :less", "ExpressionAttributeNames": {"#count": "count"},
                    "ExpressionAttributeValues": to_item({":less": -1}),
                }})
        operations += extra or []
        self.client.transact_write_items(TransactItems=operations)
        return record

    @takes("PutItem")
    def causing(self, decision: Decision, alarms: tuple[str, ...]) -> list[dict[str, Any]]:
        """For `record`'s transaction: the alarms (ARNs) an executed change is expected to set off
        (triage joins them to the incident instead of paging)."""
        return [{"Put": {"TableName": self.table, "Item": to_item(keys.caused(alarm).item({
            "incident": decision.request.incident, "decision": decision.id, "since": decision.decided_at}))}}
            for alarm in alarms]

    @takes("DeleteItem")
    def ending(self, alarms: tuple[str, ...]) -> list[dict[str, Any]]:
        """For `record`'s transaction: the alarms an executed change stops setting off."""
        return [{"Delete": {"TableName": self.table, "Key": key_item(keys.caused(alarm))}} for alarm in alarms]

    @takes("PutItem")
    def pass_on(self, request: ActionRequest, reason: str, result: str = "skipped") -> Decision:
        """The capability looked and had nothing to act on (no deployment known, outside its bake
        window, a human's call): recorded like any decision, so `opsctl decisions` and the incident's
        story say why nothing moved. Once per trigger: a redelivery finds the record and keeps it."""
        now = isoformat(self.clock.now())
        decision = Decision(decision_id(request), SKIP, reason, request, now, self.policy.config_version,
                            self.policy.capabilities[request.capability].mode, check=Check.NOTHING_TO_DO)
        try:
            self.record(decision, result)  # its record alone: nothing was acted on
        except self.client.exceptions.TransactionCanceledException:
            pass  # recorded by an earlier delivery of the same trigger
        return decision

    @takes("UpdateItem")
    def mark_done(self, decision_id_: str, step: str) -> None:
        """A step after an executed decision (its page) is done: a retry of the trigger does only the
        steps not marked. The step has happened by now, so a mark that cannot be written is logged,
        not raised: raising would make Lambda's retry certainly repeat it."""
        try:
            self.client.update_item(
                TableName=self.table, Key=key_item(keys.decision(decision_id_)),
                UpdateExpression="SET #step = if_not_exists(#step, :at)", ConditionExpression=keys.PRESENT,
                ExpressionAttributeNames={"#step": f"done_{step}"},
                ExpressionAttributeValues=to_item({":at": isoformat(self.clock.now())}))
        except ClientError:
            logger.warning("step done, its mark not written", extra={"decision": decision_id_, "step": step},
                           exc_info=True)

    @takes("UpdateItem")
    def record_outcome(self, decision_id_: str, outcome: str, details: dict[str, Any]) -> None:
        self.client.update_item(
            TableName=self.table, Key=key_item(keys.decision(decision_id_)),
            UpdateExpression="SET outcome = :o", ConditionExpression=keys.PRESENT,
            ExpressionAttributeValues=to_item({":o": {"status": outcome, "checked_at": isoformat(self.clock.now()),
                                                      **details}}),
        )

    # --- reading -------------------------------------------------------------------------------

    @takes("GetItem")
    def decision(self, decision_id_: str) -> dict[str, Any] | None:
        return read_item(self.client, self.table, keys.decision(decision_id_))

    @takes(INDEX_QUERY)
    def decisions(self, since: str | None = None, until: str | None = None, *, newest_first: bool = False,
                  limit: int | None = None) -> list[dict[str, Any]]:
        """Decision records made in [since, until] (all of them by default), in time order."""
        return list(iter_listing(self.client, self.table, keys.DECISIONS, since=since, until=until,
                                 newest_first=newest_first, limit=limit))

    @takes("GetItem")
    def target_state(self, target: str) -> dict[str, Any]:
        """A target's last action and recent toggles ({} when never acted on)."""
        return read_item(self.client, self.table, keys.target(target)) or {}

    @takes("GetItem")
    def request(self, request_id: str) -> dict[str, Any] | None:
        """A human's request, as opsctl recorded it (`record_request`)."""
        return read_item(self.client, self.table, keys.request(request_id))

    @takes("Query")
    def controls(self) -> list[dict[str, Any]]:
        """The kill switch and pauses set (expired or not), each named by `control`."""
        now = isoformat(self.clock.now())
        return [keys.public(item) | {"control": item[keys.SK], "active": item["until"] > now}
                for item in read_partition(self.client, self.table, keys.CONTROL)]

    # --- operators (opsctl) ----------------------------------------------------------------------

    @takes("PutItem")
    def record_request(self, *, by: str, actions: tuple[str, ...], target: str, reason: str | None,
                       at: datetime) -> str:
        """What opsctl writes before it runs (or schedules) a human's action: the `manual` task the
        function receives must name it, so a schedule someone else made cannot pass for a human."""
        request_id = str(uuid.uuid4())
        request = {"by": by, "actions": list(actions), "target": target, "reason": reason or "",
                   "requested_at": isoformat(at), "expires_at": int(at.timestamp()) + 90 * 86400}
        self.client.put_item(TableName=self.table, ConditionExpression=keys.ABSENT,
                             Item=to_item(keys.request(request_id).item(request)))
        return request_id

    @takes("PutItem")
    def set_control(self, capability: str | None, *, until: datetime, by: str, reason: str) -> str:
        """Pause `capability`'s automation (None: all of it, the kill switch) until a time; its name."""
        key = keys.control(capability)
        self.client.put_item(TableName=self.table, Item=to_item(key.item({
            "until": isoformat(until), "by": by, "reason": reason, "set_at": isoformat(self.clock.now())})))
        return key.sk

    @takes("DeleteItem")
    def clear_control(self, capability: str | None) -> str:
        key = keys.control(capability)
        self.client.delete_item(TableName=self.table, Key=key_item(key))
        return key.sk
