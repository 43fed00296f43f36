"""WAF rate limiting under moto (WAFv2 with LockToken conflicts, Scheduler, DynamoDB), every
decision through the guardrails and recorded in the ledger."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from controlplane.clock import isoformat, parse_timestamp
from controlplane.events import INCIDENT_OPENED, INCIDENT_RESOLVED, OPS_SOURCE
from controlplane.ledger import from_item, to_item
from factories import eventbridge_alarm
from faults import LambdaDied, crash_after

T0 = datetime(2026, 11, 27, 14, 5, tzinfo=timezone.utc)
RULE = "runbook-rate-limit"


TRAFFIC_ALARM_ARN = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:financeanalyst-pro-demo-traffic-spike"


def ops_event(detail_type: str, at: datetime, *, incident: str = "INC-2026-001", transition: str = "t-1",
              actionable: bool = True) -> dict[str, Any]:
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": detail_type, "source": OPS_SOURCE,
            "account": "123456789012", "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": "us-east-1",
            "resources": [], "detail": {"incident_id": incident, "severity": "P1", "status": "OPEN",
                                        "alarm_name": "financeanalyst-pro-demo-traffic-spike",
                                        "alarm_arn": TRAFFIC_ALARM_ARN,
                                        "remediation": "waf-rate-limit", "actionable": actionable,
                                        "transition_id": transition}}


class Waf:
    def __init__(self, harness) -> None:
        self.harness = harness
        self.client = harness.world.session.client("wafv2", region_name="us-east-1")
        self.name = harness.world.config.waf["web_acl_name"]
        self.id = harness.world.settings.web_acl_id

    def acl(self) -> tuple[dict[str, Any], str]:
        response = self.client.get_web_acl(Name=self.name, Scope="CLOUDFRONT", Id=self.id)
        return response["WebACL"], response["LockToken"]

    def action(self, rule: str = RULE) -> str:
        return next(iter(next(r for r in self.acl()[0]["Rules"] if r["Name"] == rule)["Action"])).upper()

    def write(self, change) -> None:
        """Another writer (a person in the console, a deploy) changes the WebACL."""
        acl, token = self.acl()
        rules = [change(dict(r)) for r in acl["Rules"]]
        self.client.update_web_acl(Name=self.name, Scope="CLOUDFRONT", Id=self.id, LockToken=token,
                                   DefaultAction=acl["DefaultAction"], Rules=rules,
                                   VisibilityConfig=acl["VisibilityConfig"])


@pytest.fixture
def waf(harness) -> Waf:
    return Waf(harness)


@pytest.fixture
def baseline(harness) -> None:
    harness.world.client("dynamodb").put_item(TableName=harness.world.settings.ledger_table, Item=to_item({
        "pk": "BASELINE", "sk": "financeanalyst-pro-demo-traffic-spike", "value": 20000, "threshold": 200000}))


def decisions(harness) -> list[dict[str, Any]]:
    items = harness.world.client("dynamodb").scan(TableName=harness.world.settings.ledger_table)["Items"]
    return sorted((from_item(i) for i in items if i["pk"]["S"].startswith("DECISION#")), key=lambda d: d["decided_at"])


def waf_client(harness) -> Any:
    """The WAF client of the toggle's (warm) container, to watch or interfere with its calls."""
    return harness.world.dependencies("waf_toggle", harness.clock).client("wafv2")


def count_updates(harness, monkeypatch) -> list[dict[str, Any]]:
    client = waf_client(harness)
    calls: list[dict[str, Any]] = []
    original = client.update_web_acl

    def update(**kwargs):
        calls.append(kwargs)
        return original(**kwargs)

    monkeypatch.setattr(client, "update_web_acl", update)
    return calls


def test_spike_blocks_with_a_decision_record_a_page_and_an_outcome_check(harness, waf, baseline) -> None:
    [action] = harness.waf(ops_event(INCIDENT_OPENED, T0), at=T0 + timedelta(seconds=2))
    assert (action["type"], action["result"], action["incident"]) == ("waf.block", "executed", "INC-2026-001")
    assert waf.action() == "BLOCK" and waf.action("block-oversized-bodies") == "BLOCK"
    [record] = decisions(harness)
    assert record["verdict"] == "execute" and record["result"] == "executed"
    assert record["trigger"]["kind"] == "Incident Opened" and record["inputs"]["baseline"]["value"] == 20000
    assert record["thresholds"]["multiplier"] == 10 and record["config_version"] == harness.world.policy["config_version"]
    assert record["details"] == {"previous": "COUNT", "now": "BLOCK", "attempts": 1}
    [page] = harness.notifications("P1")
    assert page["Subject"].endswith("COUNT -> BLOCK") and "opsctl waf unblock" in page["Message"]
    assert sorted(s["Name"] for s in harness.follow_ups()) == armed(harness, record)


def test_a_concurrent_writer_keeps_its_change_and_ours_retries(harness, waf, baseline, monkeypatch) -> None:
    client = waf_client(harness)
    original = client.update_web_acl
    attempts = []

    def update(**kwargs):
        attempts.append(kwargs["LockToken"])
        if len(attempts) == 1:  # between our read and our write, someone tightens the body rule
            waf.write(lambda r: r | {"Statement": {"SizeConstraintStatement": r["Statement"][
                "SizeConstraintStatement"] | {"Size": 4096}}} if r["Name"] == "block-oversized-bodies" else r)
        return original(**kwargs)

    monkeypatch.setattr(client, "update_web_acl", update)
    [action] = harness.waf(ops_event(INCIDENT_OPENED, T0), at=T0)
    assert action["result"] == "executed" and len(attempts) == 2 and attempts[0] != attempts[1]
    acl, _ = waf.acl()
    body = next(r for r in acl["Rules"] if r["Name"] == "block-oversized-bodies")
    assert body["Statement"]["SizeConstraintStatement"]["Size"] == 4096  # their change survived
    assert waf.action() == "BLOCK"  # ours landed
    assert decisions(harness)[0]["details"]["attempts"] == 2


def test_hundred_duplicate_deliveries_write_once(harness, waf, baseline, monkeypatch) -> None:
    updates = count_updates(harness, monkeypatch)
    event = ops_event(INCIDENT_OPENED, T0)
    results = [harness.waf(event, at=T0 + timedelta(seconds=i))[0]["result"] for i in range(100)]
    assert results.count("executed") == 1 and results.count("skipped") == 99
    assert len(updates) == 1 and len(decisions(harness)) == 1
    assert len(harness.notifications("P1")) == 1


def test_already_blocking_means_no_write(harness, waf, baseline, monkeypatch) -> None:
    waf.write(lambda r: r | {"Action": {"Block": {}}} if r["Name"] == RULE else r)
    updates = count_updates(harness, monkeypatch)
    [action] = harness.waf(ops_event(INCIDENT_OPENED, T0), at=T0)
    assert action["result"] == "skipped" and "already BLOCK" in action["reason"] and updates == []


def test_dry_run_records_the_decision_and_writes_nothing(harness, waf, baseline) -> None:
    harness.use_policy(lambda p: p["capabilities"]["waf"].update(mode="dry-run"))
    [action] = harness.waf(ops_event(INCIDENT_OPENED, T0), at=T0)
    assert action["result"] == "dry_run" and waf.action() == "COUNT"
    [record] = decisions(harness)
    assert record["mode"] == "dry-run" and record["details"] == {"current_action": "COUNT", "would_set": "BLOCK"}


@pytest.mark.parametrize("control", [None, "waf"])  # the kill switch, a pause
def test_kill_switch_and_pause_stop_actions_until_they_expire(harness, waf, baseline, control) -> None:
    from controlplane.guardrails import Guardrails
    from controlplane.policy import Policy

    guardrails = Guardrails(table=harness.world.settings.ledger_table, client=harness.world.client("dynamodb"),
                            policy=Policy(harness.world.policy), clock=harness.clock)
    harness.clock.set(T0)
    guardrails.set_control(control, until=T0 + timedelta(hours=2), by="alice", reason="investigating")
    [held] = harness.waf(ops_event(INCIDENT_OPENED, T0, transition="t-1"), at=T0)
    assert held["result"] == "skipped" and "investigating" in held["reason"] and waf.action() == "COUNT"
    later = T0 + timedelta(hours=2, minutes=1)
    [acted] = harness.waf(ops_event(INCIDENT_OPENED, later, transition="t-2"), at=later)
    assert acted["result"] == "executed" and waf.action() == "BLOCK"


def test_stale_event_is_not_acted_on(harness, waf, baseline) -> None:
    [action] = harness.waf(ops_event(INCIDENT_OPENED, T0), at=T0 + timedelta(minutes=20))
    assert action["result"] == "skipped" and action["reason"].startswith("stale event: 20 min old")
    assert waf.action() == "COUNT"


def test_no_baseline_fails_closed_with_a_blind_spot_notice(harness, waf) -> None:
    [action] = harness.waf(ops_event(INCIDENT_OPENED, T0), at=T0)
    assert action["result"] == "skipped" and "no traffic baseline" in action["reason"]
    assert waf.action() == "COUNT"
    [notice] = harness.notifications("P3")
    assert notice["Subject"].startswith("[P3] Blind spot: WAF rate limiting is blind")


def test_flap_guard_stops_the_fifth_toggle_in_an_hour(harness, waf, baseline) -> None:
    results = []
    for minute in range(5):
        action = "block" if minute % 2 == 0 else "unblock"
        at = T0 + timedelta(minutes=minute * 5)
        results.append(harness.waf(harness.human({"task": "manual", "action": action, "by": "alice"}), at=at)[0])
    assert [r["result"] for r in results] == ["executed"] * 4 + ["skipped"]
    assert results[-1]["reason"].startswith("flap guard: 4 toggles")
    assert waf.action() == "COUNT"


def test_cooldown_and_budget(harness, waf, baseline) -> None:
    harness.waf(ops_event(INCIDENT_OPENED, T0, transition="t-1"), at=T0)
    waf.write(lambda r: r | {"Action": {"Count": {}}} if r["Name"] == RULE else r)  # someone undid it
    [cooling] = harness.waf(ops_event(INCIDENT_OPENED, T0 + timedelta(minutes=5), transition="t-2"),
                            at=T0 + timedelta(minutes=5))
    assert cooling["result"] == "skipped" and cooling["reason"].startswith("cooldown")
    harness.use_policy(lambda p: p["guardrails"].update(action_budget_per_hour=1))
    at = T0 + timedelta(minutes=15)
    [budget] = harness.waf(ops_event(INCIDENT_OPENED, at, transition="t-3"), at=at)
    assert budget["result"] == "skipped" and budget["reason"].startswith("action budget spent: 1 actions")


def blocked_then_normal(harness, config) -> datetime:
    """A spike at T0 blocked; the traffic alarm back to OK ten minutes later (returned)."""
    spec = config.alarm("traffic-spike")
    harness.triage(eventbridge_alarm(spec.name, "ALARM", T0, description=spec.tagged_description), at=T0)
    harness.waf(ops_event(INCIDENT_OPENED, T0), at=T0)
    ok_at = T0 + timedelta(minutes=10)
    harness.triage(eventbridge_alarm(spec.name, "OK", ok_at, previous="ALARM", description=spec.tagged_description),
                   at=ok_at)
    return ok_at


def test_recovery_holds_then_returns_to_count(harness, waf, baseline, config) -> None:
    ok_at = blocked_then_normal(harness, config)
    [scheduled] = harness.waf(ops_event(INCIDENT_RESOLVED, ok_at), at=ok_at)
    assert scheduled["result"] == "scheduled" and "2026-11-27T14:35:00.000Z" in scheduled["reason"]  # block + 30 min
    # A check that comes too early (say, a manual run) keeps blocking.
    [early] = harness.waf({"task": "recovery-check", "incident": "INC-2026-001", "at": "x"},
                          at=ok_at + timedelta(minutes=5))
    assert early["result"] == "skipped" and waf.action() == "BLOCK"
    [back] = harness.waf({"task": "recovery-check", "incident": "INC-2026-001", "at": "2026-11-27T14:35:00.000Z"},
                         at=T0 + timedelta(minutes=30))
    assert back["type"] == "waf.count" and back["result"] == "executed" and waf.action() == "COUNT"


def test_a_deploy_during_a_spike_does_not_undo_the_block(harness, waf, baseline) -> None:
    harness.waf(ops_event(INCIDENT_OPENED, T0), at=T0)
    waf.write(lambda r: r | {"Action": {"Count": {}}} if r["Name"] == RULE else r)  # CloudFormation resets it
    [action] = harness.waf(stack_updated(T0 + timedelta(minutes=7)), at=T0 + timedelta(minutes=7))
    assert action["result"] == "executed" and action["type"] == "waf.block" and waf.action() == "BLOCK"
    assert decisions(harness)[-1]["trigger"]["kind"] == "stack-update"


def test_failed_outcome_escalates(harness, waf, baseline, config) -> None:
    spec = config.alarm("traffic-spike")
    harness.triage(eventbridge_alarm(spec.name, "ALARM", T0, description=spec.tagged_description), at=T0)
    harness.waf(ops_event(INCIDENT_OPENED, T0), at=T0)
    harness.notifications("P1")
    decision = decisions(harness)[0]["id"]
    [checked] = harness.waf({"task": "outcome-check", "decision": decision, "at": "x"}, at=T0 + timedelta(minutes=15))
    assert checked["result"] == "failed"
    assert decisions(harness)[0]["outcome"]["status"] == "failed"
    [escalation] = harness.notifications("P1")
    assert escalation["Subject"].startswith("[P1] Rate limiting did not clear")


def test_our_block_s_side_effect_alarm_joins_the_incident(harness, waf, baseline, config) -> None:
    spec = config.alarm("traffic-spike")
    harness.triage(eventbridge_alarm(spec.name, "ALARM", T0, description=spec.tagged_description), at=T0)
    harness.waf(ops_event(INCIDENT_OPENED, T0), at=T0)
    harness.all_notifications()
    blocked = eventbridge_alarm("financeanalyst-pro-demo-waf-blocked-requests", "ALARM", T0 + timedelta(minutes=6),
                                namespace="AWS/WAFV2", metric="BlockedRequests")
    [outcome] = harness.triage(blocked, at=T0 + timedelta(minutes=6))
    assert outcome["result"] == "joined" and outcome["incident"] == "INC-2026-001"
    assert harness.all_notifications() == [] and len(harness.incidents()) == 1
    assert harness.incidents()[0]["timeline"][-1]["event"] == "side-effect"


def test_the_decisions_use_the_configured_multiplier(harness, waf, baseline) -> None:
    harness.use_policy(lambda policy: policy["waf"].update(traffic_multiplier=5))
    harness.waf(ops_event(INCIDENT_OPENED, T0), at=T0)
    assert decisions(harness)[0]["thresholds"]["multiplier"] == 5


def test_writes_are_paced(harness, waf, baseline) -> None:
    harness.waf(harness.human({"task": "manual", "action": "block", "by": "alice"}), at=T0)
    harness.waf(harness.human({"task": "manual", "action": "unblock", "by": "alice"}), at=T0)  # same second
    assert harness.world.waits and max(harness.world.waits) == pytest.approx(1.0)


def test_malformed_trigger_is_rejected(harness) -> None:
    from controlplane.errors import MalformedEvent

    with pytest.raises(MalformedEvent):
        harness.waf({"hello": "world"}, at=T0)


def test_a_missing_rule_fails_closed_with_a_blind_spot_notice(harness, waf, baseline) -> None:
    waf.write(lambda r: r | {"Name": "renamed-by-someone", "VisibilityConfig": r["VisibilityConfig"] | {
        "MetricName": "renamed"}} if r["Name"] == RULE else r)
    [action] = harness.waf(ops_event(INCIDENT_OPENED, T0), at=T0)
    assert action["result"] == "failed" and "has no rule 'runbook-rate-limit'" in action["reason"]
    [notice] = harness.notifications("P3")
    assert "cannot be toggled" in notice["Subject"]
    assert decisions(harness)[0]["result"] == "failed"


def armed(harness, record: dict) -> list[str]:
    """The follow-ups an automated block arms before its flip: the outcome check, and the recovery
    check at the hold time (so no block is left without one, whatever happens after the flip)."""
    recovery = parse_timestamp(record["decided_at"]) + timedelta(minutes=harness.world.policy["waf"]["hold_minutes"])
    return [f"waf-outcome-{record['id']}", f"waf-recovery-{record['incident']}-{int(recovery.timestamp())}"]


@pytest.mark.parametrize("step", ["UpdateWebACL", "record", "page"])
def test_a_crash_after_any_step_of_a_block_is_finished_by_the_retry(harness, waf, baseline, monkeypatch,
                                                                     step: str) -> None:
    """Lambda dies right after the rule's flip, the ledger record or the page: the retry of the same
    trigger finishes what is left — the target state, the page and the outcome check — instead of
    finding the rule "already BLOCK" and stopping (which left the block with no recovery)."""
    import rate_limit
    from controlplane.guardrails import Guardrails
    from controlplane.remediation import Remediation

    owner, name = {"UpdateWebACL": (rate_limit.RateLimitRule, "set_action"), "record": (Guardrails, "record"),
                   "page": (Remediation, "page")}[step]
    crash_after(monkeypatch, owner, name)
    with pytest.raises(LambdaDied):
        harness.waf(ops_event(INCIDENT_OPENED, T0), at=T0)
    monkeypatch.undo()
    [again] = harness.waf(ops_event(INCIDENT_OPENED, T0), at=T0 + timedelta(seconds=30))
    assert again["result"] == ("executed" if step == "UpdateWebACL" else "skipped")
    [record] = decisions(harness)
    assert (record["result"], record["details"]["now"]) == ("executed", "BLOCK") and record["done_follow_through"]
    assert waf.action() == "BLOCK"
    [state] = [i for i in harness.ledger_items(f"TARGET#{record['target']}") if i["sk"] == "STATE"]
    assert state["last_action"] == "waf.block"  # what the deploy reconciliation re-asserts
    pages = [page["Subject"] for page in harness.notifications("P1")]
    assert pages == [f"[WAF] {record['target']}: COUNT -> BLOCK"] * (2 if step == "page" else 1)
    assert sorted(s["Name"] for s in harness.follow_ups()) == armed(harness, record)


def stack_updated(at: datetime) -> dict[str, Any]:
    stack = "arn:aws:cloudformation:us-east-1:123456789012:stack/financeanalyst-pro-demo-control-plane/1"
    return {"version": "0", "id": f"cfn-{at.timestamp()}", "detail-type": "CloudFormation Stack Status Change",
            "source": "aws.cloudformation", "account": "123456789012", "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": "us-east-1", "resources": [stack],
            "detail": {"stack-id": stack, "status-details": {"status": "UPDATE_COMPLETE", "status-reason": ""}}}


def test_a_deploy_after_the_spike_does_not_re_block(harness, waf, baseline, config) -> None:
    """The ledger still says BLOCK (the recovery has not run yet) but CloudWatch says the traffic is
    normal: the block is no longer wanted, so the deploy's COUNT stands and the recovery check ends it."""
    ok_at = blocked_then_normal(harness, config)
    waf.write(lambda r: r | {"Action": {"Count": {}}} if r["Name"] == RULE else r)  # CloudFormation resets it
    [note] = harness.waf(stack_updated(ok_at + timedelta(minutes=1)), at=ok_at + timedelta(minutes=1))
    assert note["result"] == "skipped" and "traffic alarm is OK" in note["reason"] and waf.action() == "COUNT"
    assert [d["trigger"]["kind"] for d in decisions(harness)] == ["Incident Opened"]


def test_the_recovery_check_re_arms_while_the_block_stands(harness, waf, baseline, config) -> None:
    """Armed with the block, the recovery check finds the spike still on: it keeps blocking and
    checks again (a block never depends on the "Incident Resolved" event arriving); once traffic has
    been normal long enough it returns to COUNT and arms nothing more."""
    spec = config.alarm("traffic-spike")
    harness.triage(eventbridge_alarm(spec.name, "ALARM", T0, description=spec.tagged_description), at=T0)
    harness.waf(ops_event(INCIDENT_OPENED, T0), at=T0)
    [record] = decisions(harness)
    [armed_check] = [s for s in harness.follow_ups() if s["Name"].startswith("waf-recovery-")]
    harness.world.client("scheduler").delete_schedule(Name=armed_check["Name"], GroupName=armed_check["GroupName"])
    hold = T0 + timedelta(minutes=harness.world.policy["waf"]["hold_minutes"])
    [still] = harness.waf(json.loads(armed_check["Target"]["Input"]), at=hold)
    assert still["result"] == "skipped" and "checking again" in still["reason"] and waf.action() == "BLOCK"
    [again] = [s for s in harness.follow_ups() if s["Name"].startswith("waf-recovery-")]
    assert parse_timestamp(json.loads(again["Target"]["Input"])["at"]) > hold
    harness.world.client("scheduler").delete_schedule(Name=again["Name"], GroupName=again["GroupName"])
    harness.triage(eventbridge_alarm(spec.name, "OK", hold, previous="ALARM", description=spec.tagged_description),
                   at=hold)
    later = hold + timedelta(hours=1)
    [back] = harness.waf({"task": "recovery-check", "incident": record["incident"], "at": isoformat(later)}, at=later)
    assert (back["type"], back["result"]) == ("waf.count", "executed") and waf.action() == "COUNT"
    [after] = harness.waf({"task": "recovery-check", "incident": record["incident"], "at": "later"},
                          at=later + timedelta(minutes=1))
    assert after["result"] == "skipped" and "already COUNT" in after["reason"]
    assert not [s for s in harness.follow_ups() if s["Name"].startswith("waf-recovery-")]


def test_the_recovery_check_leaves_a_human_s_block(harness, waf, baseline) -> None:
    harness.waf(harness.human({"task": "manual", "action": "block", "by": "alice"}), at=T0)
    assert waf.action() == "BLOCK"
    [left] = harness.waf({"task": "recovery-check", "incident": None, "at": "x"}, at=T0 + timedelta(hours=2))
    assert left["result"] == "skipped" and "human:alice's" in left["reason"] and waf.action() == "BLOCK"


def test_an_outcome_check_pages_when_the_block_never_completed(harness, waf, baseline, monkeypatch) -> None:
    """The decision was recorded and the checks armed, then every attempt died before the flip (the
    trigger is on the dead-letter queue): the outcome check says so to a human instead of judging
    an action that never happened."""
    import rate_limit

    def unreachable(*_: Any, **__: Any) -> Any:
        raise LambdaDied("Lambda runtime exited before UpdateWebACL")

    monkeypatch.setattr(rate_limit.RateLimitRule, "set_action", unreachable)
    with pytest.raises(LambdaDied):
        harness.waf(ops_event(INCIDENT_OPENED, T0), at=T0)
    monkeypatch.undo()
    [record] = decisions(harness)
    assert record["result"] == "executing" and waf.action() == "COUNT"
    [check] = [s for s in harness.follow_ups() if s["Name"].startswith("waf-outcome-")]
    [checked] = harness.waf(json.loads(check["Target"]["Input"]), at=T0 + timedelta(minutes=15))
    assert checked["result"] == "failed" and "never completed" in checked["reason"]
    [page] = harness.notifications("P1")
    assert page["Subject"] == f"[P1] waf.block of {record['target']} did not complete"
    assert "outcome" not in decisions(harness)[0]


def test_two_actions_at_once_cannot_both_take_the_budget_s_last_slot(harness, waf, baseline) -> None:
    """Both decided while one slot of the hour's budget was left (each read it free); the slot is
    taken with the intent, conditionally, so the second is recorded as skipped for the budget and
    changes nothing."""
    from controlplane.guardrails import EXECUTE, ActionRequest, Guardrails
    from controlplane.policy import load_policy

    harness.use_policy(lambda p: p["guardrails"].update(action_budget_per_hour=1))
    guardrails = Guardrails(table=harness.world.settings.ledger_table, client=harness.world.client("dynamodb"),
                            policy=load_policy(harness.world.settings.policy_path), clock=harness.clock)
    harness.clock.set(T0)

    def request(target: str) -> ActionRequest:
        return ActionRequest(capability="rollback", action="rollback", target=target, trigger={"kind": "test"},
                             trigger_id=f"t-{target}", event_time=T0)

    first, second = guardrails.decide(request("api")), guardrails.decide(request("web"))
    assert first.verdict == second.verdict == EXECUTE
    assert guardrails.intend(first, {}) is True
    assert guardrails.intend(second, {}) is False
    records = {d["target"]: d for d in decisions(harness)}
    assert records["api"]["result"] == "executing"
    assert (records["web"]["result"], records["web"]["check"]) == ("skipped", "budget")
    [budget] = harness.ledger_items("BUDGET")
    assert budget["count"] == 1


def test_two_actions_on_one_target_at_once_cannot_both_act(harness, waf, baseline) -> None:
    """A human's block and the automation's both decided on the rule's state as it was (each read it
    untouched); the intent claims the target only if it is still as read and nothing else is under
    way on it, so the second is recorded as skipped for the concurrent action. The claim is released
    by the first's record, and a claim left by an action that never completed expires at its
    outcome check."""
    from controlplane.guardrails import EXECUTE, ActionRequest, Check, Guardrails
    from controlplane.policy import load_policy

    policy = load_policy(harness.world.settings.policy_path)
    guardrails = Guardrails(table=harness.world.settings.ledger_table, client=harness.world.client("dynamodb"),
                            policy=policy, clock=harness.clock)
    harness.clock.set(T0)

    def request(trigger: str, *, target: str = "acl/rule") -> ActionRequest:
        return ActionRequest(capability="waf", action="waf.block", target=target, trigger={"kind": "test"},
                             trigger_id=trigger, event_time=harness.clock.now(), cooldown=False, toggles=False)

    first, second = guardrails.decide(request("a")), guardrails.decide(request("b"))
    assert first.verdict == second.verdict == EXECUTE
    assert guardrails.intend(first, {}) is True
    assert guardrails.intend(second, {}) is False
    [skipped] = [d for d in decisions(harness) if d["id"] == second.id]
    assert (skipped["result"], skipped["check"]) == ("skipped", Check.CONCURRENT.value)
    guardrails.record(first, "executed", intended=True)
    [state] = [i for i in harness.ledger_items("TARGET#acl/rule") if i["sk"] == "STATE"]
    assert state["last_action"] == "waf.block" and "acting" not in state
    [budget] = harness.ledger_items("BUDGET")
    assert budget["count"] == 1  # the skipped one took no slot

    # Decided on the state the first left: claims it, then dies before its record (never completes).
    third = guardrails.decide(request("c"))
    assert guardrails.intend(third, {}) is True
    harness.clock.set(T0 + timedelta(minutes=policy.guardrails.outcome_check_minutes - 1))
    fourth = guardrails.decide(request("d"))
    assert guardrails.intend(fourth, {}) is False and fourth.check == Check.CONCURRENT
    harness.clock.set(T0 + timedelta(minutes=policy.guardrails.outcome_check_minutes + 1))
    fifth = guardrails.decide(request("e"))
    assert guardrails.intend(fifth, {}) is True  # the stuck claim expired: its outcome check paged a human
