"""One control plane for an organization (config/production-api.example.yaml): the hub in
111122223333 eu-west-1, three member accounts watched in eu-west-1 and eu-central-1 through their
spokes. moto keeps each account's resources apart; the local world plays AWS's STS (a role that does
not exist or does not trust the hub is refused). The events are those of examples/multi-account.jsonl."""

from __future__ import annotations

import copy
import io
import json
from datetime import datetime, timezone
from typing import Any, TypeVar

import pytest
from botocore.awsrequest import AWSResponse
from moto.sts.models import sts_backends

from controlplane import keys
from controlplane.config import parse_config
from controlplane.guardrails import Guardrails
from controlplane.ledger import IncidentLedger, read_partition
from controlplane.records import Coverage
from controlplane.repository import Repository
from faults import LambdaDied, crash_after
from opsctl.lambda_host import function_module
from opsctl.main import main
from opsctl.replay import Replay
from opsctl.world import provision
from paths import ROOT
from variants import API_RAW

R = TypeVar("R", bound=Repository)
CHECKOUT, REPORTING, SHARED, FOREIGN = "222233334444", "333344445555", "444455556666", "999988887777"
PREFIX = "financeanalyst-api-production"
ROLE = f"{PREFIX}-remediation"
EDGE = "shared-edge/runbook-rate-limit"  # the WAF's target: the shared-services account's WebACL and rule
EXAMPLE = [json.loads(line) for line in (ROOT / "examples" / "multi-account.jsonl").read_text().splitlines()]


def lines(*, until: str | None = None, accounts: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """The example's events up to `until` (its time, exclusive), of these accounts only (then without
    the scheduled tasks: a coverage check would find the other accounts silent)."""
    return [event for event in EXAMPLE
            if (until is None or (event.get("time") or event.get("at")) < until)
            and (accounts is None or event.get("account") in accounts)]


def alarm_of(account: str, *, until: str) -> dict[str, Any]:
    """The account's last alarm state change in the example before `until`."""
    return [e for e in lines(until=until, accounts=(account,)) if e["source"] == "aws.cloudwatch"][-1]


class Org:
    """The organization's world, driven as the replay drives it (every rule, the relay, schedules)."""

    def __init__(self, config, tmp_path) -> None:
        self.config = config
        self.world = provision(config, config.policy(), workdir=tmp_path)
        self.replay = Replay(config, out=io.StringIO())
        self.replay.attach(self.world, datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc))
        self.replay.seed_history(datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc))

    def deliver(self, *events: dict[str, Any]) -> None:
        for event in events:
            self.replay.report.received += 1
            self.replay.deliver(self.replay.report.received, event)

    def member(self, account: str, region: str, service: str) -> Any:
        return self.world.member(account, region).client(service)

    def checkout_alias(self) -> str:
        lambda_ = self.member(CHECKOUT, "eu-central-1", "lambda")
        return str(lambda_.get_alias(FunctionName="checkout-production-api", Name="live")["FunctionVersion"])

    def items(self, partition: str) -> list[dict[str, Any]]:
        return read_partition(self.world.client("dynamodb"), self.world.settings.ledger_table, partition)

    def repository(self, kind: type[R]) -> R:
        return self.world.dependencies("coverage", self.replay.clock).repository(kind)

    def incidents(self) -> list[dict[str, Any]]:
        self.replay.report.incidents.clear()
        self.replay.collect_incidents()
        return self.replay.report.incidents

    def reasons(self) -> dict[str, str]:
        """Each incident's reason (what its alarm said), by its id."""
        ledger = IncidentLedger(self.world.client("dynamodb"), self.world.settings.ledger_table)
        return {incident["id"]: str(incident.get("reason")) for incident in ledger.iter_incidents(newest_first=False)}

    def sessions(self, account: str) -> set[str]:
        """The session names under which the hub assumed `account`'s spoke role (CloudTrail's)."""
        return {role.session_name for role in sts_backends[account]["aws"].assumed_roles
                if role.role_arn == f"arn:aws:iam::{account}:role/{ROLE}"}

    def die_after(self, monkeypatch: pytest.MonkeyPatch, owner: type, method: str, event: dict[str, Any]) -> None:
        """Deliver `event`, with Lambda dying right after `owner.method` (then it lives again)."""
        crash_after(monkeypatch, owner, method)
        with pytest.raises(LambdaDied):
            self.deliver(event)
        monkeypatch.undo()

    def retry_incident_opened(self, function: str) -> dict[str, Any]:
        """Lambda's retry of the "Incident Opened" ops-bus event to `function`, as the outbox relay put it."""
        [opened] = [item["event"] for item in self.items(keys.OUTBOX) if item["event"]["DetailType"] == "Incident Opened"]
        retry = {"version": "0", "id": "retry", "detail-type": opened["DetailType"], "source": opened["Source"],
                 "time": opened["Time"], "account": "111122223333", "region": "eu-west-1",
                 "detail": json.loads(opened["Detail"])}
        self.replay.run_function(function, retry)
        self.replay.collect_side_effects()
        return retry

    def subjects(self, severity: str) -> list[str]:
        return [n["subject"] for n in self.replay.report.notifications if n["severity"] == severity]


@pytest.fixture
def org(aws, org_config, tmp_path) -> Org:
    return Org(org_config, tmp_path)


def test_a_rollback_in_a_member_account_is_confirmed_there_and_attributable(org: Org) -> None:
    """The checkout account's alarm reaches triage through its spoke: a P1 incident that says where.
    The rollback confirms the alarm in that account's CloudWatch and switches the alias there, with
    the spoke role assumed under the decision's id (CloudTrail's session name)."""
    org.deliver(*lines(until="2026-11-24T09:11", accounts=(CHECKOUT, "111122223333")))
    [incident] = org.incidents()
    assert (incident["alarm"], incident["severity"], incident["account"], incident["region"]) == (
        "checkout-production-error-rate", "P1", CHECKOUT, "eu-central-1")
    assert org.checkout_alias() == "1"
    [decision] = org.repository(Guardrails).decisions()
    assert (decision["target"], decision["result"], decision["incident"]) == ("checkout", "executed", incident["id"])
    # Every session the hub opened in the checkout account: the confirmation under the incident's id,
    # the switch under the decision's.
    assert org.sessions(CHECKOUT) == {incident["id"], decision["id"]}
    assert "[ROLLBACK] checkout: 2 -> 1" in org.subjects("P1")
    # The hub's own target is untouched: the same function name is another function there.
    hub_alias = org.world.client("lambda").get_alias(FunctionName="financeanalyst-api-production-api", Name="live")
    assert hub_alias["FunctionVersion"] == "2"


def test_triage_says_where_each_incident_opened(org: Org) -> None:
    """Its outcome (the log line the dashboard's "where" table counts) names the alarm's account and Region."""
    alarm = alarm_of(REPORTING, until="2026-11-24T09:13")
    [outcome] = org.replay.invoke("triage", alarm)["outcomes"]
    assert (outcome["result"], outcome["account"], outcome["region"]) == ("opened", REPORTING, "eu-west-1")


def test_the_same_alarm_name_in_two_accounts_is_two_incidents_and_only_one_rolls_back(org: Org) -> None:
    org.deliver(*lines(until="2026-11-24T09:13"))
    incidents = org.incidents()
    assert [(i["alarm"], i["account"], i["region"], i["severity"]) for i in incidents] == [
        ("checkout-production-error-rate", CHECKOUT, "eu-central-1", "P1"),
        ("checkout-production-error-rate", REPORTING, "eu-west-1", "P2")]
    assert [a["target"] for a in org.replay.report.actions if a["type"] == "rollback"] == ["checkout"]
    # Two applications, not one storm: each account's unconfigured alarms are a component of their own.
    assert not [s for s in org.subjects("P1") if "Storm" in s]


def test_a_missing_spoke_role_fails_the_rollback_closed_and_pages_a_blind_spot(org: Org) -> None:
    org.member(CHECKOUT, "eu-west-1", "iam").delete_role(RoleName=ROLE)
    org.deliver(*lines(until="2026-11-24T09:11", accounts=(CHECKOUT, "111122223333")))
    assert org.checkout_alias() == "2"  # nothing moved
    [action] = [a for a in org.replay.report.actions if a["type"] == "rollback"]
    assert action["result"] == "skipped"
    assert f"cannot assume arn:aws:iam::{CHECKOUT}:role/{ROLE}" in action["reason"]
    assert "[P1] Blind spot: cannot roll back checkout" in org.subjects("P1")


def test_a_crash_right_after_the_switch_in_the_member_account_is_finished_by_the_retry(org: Org, monkeypatch) -> None:
    """Lambda dies after UpdateAlias in the checkout account: the retry resumes from the decision
    record (assuming the role again, same session name) and switches nothing twice."""
    strategies = function_module("rollback", "strategies")
    org.deliver(*lines(until="2026-11-24T09:06", accounts=(CHECKOUT, "111122223333")))
    org.die_after(monkeypatch, strategies.LambdaAlias, "switch", alarm_of(CHECKOUT, until="2026-11-24T09:11"))
    assert org.checkout_alias() == "1"
    org.retry_incident_opened("rollback")
    [decision] = org.repository(Guardrails).decisions()
    assert decision["result"] == "executed" and decision["done_follow_through"]
    assert org.checkout_alias() == "1"
    assert org.subjects("P1").count("[ROLLBACK] checkout: 2 -> 1") == 1


def edge_rule_action(org: Org) -> str:
    """The rate rule's action on the shared-services account's WebACL, as WAF has it there."""
    wafv2 = org.member(SHARED, "eu-west-1", "wafv2")
    acl = wafv2.get_web_acl(Name="shared-edge", Scope="REGIONAL", Id=org.world.settings.web_acl_id)["WebACL"]
    [rule] = [r for r in acl["Rules"] if r["Name"] == "runbook-rate-limit"]
    return next(iter(rule["Action"])).upper()


def test_a_waf_block_in_a_member_account_flips_its_rule_there_under_the_decisions_id(org: Org) -> None:
    """The shared-services account's traffic alarm reaches triage through its spoke; the toggle
    confirms it in that account's CloudWatch and blocks on that account's WebACL, through its spoke
    role assumed under the incident's id (the confirmation) and the decision's (the flip). The hub
    has no WebACL; after the spike, the recovery check puts the rule back to COUNT there."""
    org.deliver(*lines(until="2026-11-24T09:15", accounts=(SHARED, "111122223333")))
    [incident] = org.incidents()
    assert (incident["alarm"], incident["account"], incident["region"]) == ("shared-edge-traffic-spike", SHARED,
                                                                             "eu-west-1")
    assert edge_rule_action(org) == "BLOCK"
    assert org.world.client("wafv2").list_web_acls(Scope="REGIONAL")["WebACLs"] == []
    [decision] = org.repository(Guardrails).decisions()
    assert (decision["action"], decision["target"], decision["result"]) == ("waf.block", EDGE, "executed")
    assert org.sessions(SHARED) == {incident["id"], decision["id"]}
    assert f"[WAF] {EDGE}: COUNT -> BLOCK" in org.subjects("P1")
    # The spike ends (09:24), the hold time passes: the recovery check lifts the block there.
    spike_over = alarm_of(SHARED, until="2026-11-24T09:25")
    org.deliver(spike_over,
                {"version": "0", "id": "later", "detail-type": "Spoke Heartbeat", "source": "ops.spoke",
                 "account": SHARED, "region": "eu-west-1", "time": "2026-11-24T09:50:00Z", "resources": [],
                 "detail": {"spoke_version": "3f1c2a9b7d0e"}})
    assert edge_rule_action(org) == "COUNT"
    assert [(d["action"], d["result"]) for d in org.repository(Guardrails).decisions()] == [
        ("waf.block", "executed"), ("waf.count", "executed")]


def test_a_blocks_outcome_that_cannot_be_read_in_the_member_account_is_unknown_and_said_at_p1(org: Org) -> None:
    """The role goes away after the block: the outcome check cannot ask the account's CloudWatch, so
    the decision's outcome is `unknown` (never a success or a failure) and a human hears it at P1."""
    org.deliver(*lines(until="2026-11-24T09:15", accounts=(SHARED, "111122223333")))
    org.member(SHARED, "eu-west-1", "iam").delete_role(RoleName=ROLE)
    org.world._containers.pop("waf_toggle")  # a cold container: the flip's credentials are not held
    org.deliver({"version": "0", "id": "after-the-check", "detail-type": "Spoke Heartbeat", "source": "ops.spoke",
                 "account": SHARED, "region": "eu-west-1", "time": "2026-11-24T09:30:00Z", "resources": [],
                 "detail": {"spoke_version": "3f1c2a9b7d0e"}})
    [decision] = org.repository(Guardrails).decisions()
    assert decision["outcome"]["status"] == "unknown"
    assert f"cannot assume arn:aws:iam::{SHARED}:role/{ROLE}" in decision["outcome"]["error"]
    assert f"[P1] Blind spot: cannot check rate limiting on {EDGE}" in org.subjects("P1")
    assert edge_rule_action(org) == "BLOCK"


def test_a_member_accounts_waf_needs_no_traffic_alarm_of_the_hubs(aws, tmp_path) -> None:
    """Its trigger is the account's own alarm: without the hub's traffic-spike alarm (nor its
    baseline history) the block happens there all the same."""
    raw = copy.deepcopy(API_RAW)
    del raw["alarms"]["traffic-spike"]
    org = Org(parse_config(raw), tmp_path)
    org.deliver(*lines(until="2026-11-24T09:15", accounts=(SHARED, "111122223333")))
    assert edge_rule_action(org) == "BLOCK"


def test_an_unassumable_member_role_fails_the_waf_block_closed_with_a_p1_blind_spot(org: Org) -> None:
    org.member(SHARED, "eu-west-1", "iam").delete_role(RoleName=ROLE)
    org.deliver(*lines(until="2026-11-24T09:15", accounts=(SHARED, "111122223333")))
    assert edge_rule_action(org) == "COUNT"  # nothing moved
    [action] = [a for a in org.replay.report.actions if a["type"] == "waf.block"]
    assert action["result"] == "skipped"
    assert f"cannot assume arn:aws:iam::{SHARED}:role/{ROLE}" in action["reason"]
    assert f"[P1] Blind spot: WAF rate limiting is blind ({EDGE})" in org.subjects("P1")


def test_a_crash_right_after_the_flip_in_the_member_account_is_finished_by_the_retry(org: Org, monkeypatch) -> None:
    """Lambda dies after UpdateWebACL in the shared-services account: the retry resumes from the
    decision record (the role assumed again under the same session name), writes nothing twice and
    pages once."""
    rate_limit = function_module("waf_toggle", "rate_limit")
    org.deliver(*lines(until="2026-11-24T09:14", accounts=(SHARED, "111122223333")))
    org.die_after(monkeypatch, rate_limit.RateLimitRule, "set_action", alarm_of(SHARED, until="2026-11-24T09:15"))
    assert edge_rule_action(org) == "BLOCK"
    retry = org.retry_incident_opened("waf_toggle")
    [decision] = org.repository(Guardrails).decisions()
    assert decision["result"] == "executed" and decision["done_follow_through"]
    assert decision["details"]["previous"] == "COUNT"
    assert edge_rule_action(org) == "BLOCK"
    assert org.subjects("P1").count(f"[WAF] {EDGE}: COUNT -> BLOCK") == 1
    assert org.sessions(SHARED) == {retry["detail"]["incident_id"], decision["id"]}


def test_a_quiet_region_and_an_unassumable_role_are_blind_spots_until_heard_again(org: Org) -> None:
    org.deliver(*lines(until="2026-11-24T09:02"))
    assert [i["alarm"] for i in org.incidents()] == []  # every pair heard from, every role assumable
    org.member(SHARED, "eu-west-1", "iam").delete_role(RoleName=ROLE)
    org.deliver(*[e for e in lines(until="2026-11-24T09:36") if e.get("source") == "ops.spoke"])
    org.deliver({"task": "coverage-check", "at": "2026-11-24T09:36:00Z"})
    incidents = org.incidents()
    blind = {(i["account"], i["region"]): i for i in incidents if i["alarm"] == "financeanalyst-api-production-blind-spot"}
    assert set(blind) == {(REPORTING, "eu-central-1"), (SHARED, "eu-west-1"), (SHARED, "eu-central-1")}
    assert {i["severity"] for i in blind.values()} == {"P1"}
    # Three at once are a storm of the Coverage component: one more page, not three.
    assert [i["alarm"] for i in incidents if i not in blind.values()] == ["storm on Coverage"]
    states = {(p["account"], p["region"]): p for p in org.repository(Coverage).pairs()}
    assert states[REPORTING, "eu-central-1"]["reason"] == "no heartbeat since 2026-11-24T09:00 UTC"
    assert "cannot be assumed (AccessDenied)" in states[SHARED, "eu-west-1"]["role_check"]
    # Heard again, and the role restored: the next check closes all three.
    provision_role = org.member(SHARED, "eu-west-1", "iam")
    provision_role.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"AWS": "arn:aws:iam::111122223333:root"}}]}))
    org.deliver({"version": "0", "id": "hb-back", "detail-type": "Spoke Heartbeat", "source": "ops.spoke",
                 "account": REPORTING, "region": "eu-central-1", "time": "2026-11-24T09:40:00Z", "resources": [],
                 "detail": {"spoke_version": "3f1c2a9b7d0e"}},
                {"task": "coverage-check", "at": "2026-11-24T09:41:00Z"})
    assert {i["status"] for i in org.incidents()} == {"RESOLVED"}


def test_a_heartbeat_or_alarm_from_outside_the_configured_pairs_is_refused_and_counted(org: Org) -> None:
    heartbeat = {"version": "0", "id": "hb-foreign", "detail-type": "Spoke Heartbeat", "source": "ops.spoke",
                 "account": FOREIGN, "region": "eu-west-1", "time": "2026-11-24T09:00:00Z", "resources": [],
                 "detail": {"spoke_version": "x"}}
    unwatched_region = json.loads(json.dumps(lines(until="2026-11-24T09:11", accounts=(CHECKOUT,))[-1]))
    unwatched_region["region"] = "ap-southeast-2"
    unwatched_region["resources"] = [r.replace("eu-central-1", "ap-southeast-2") for r in unwatched_region["resources"]]
    [foreign_alarm] = [e for e in EXAMPLE if e.get("account") == FOREIGN]
    org.deliver(heartbeat, heartbeat | {"id": "hb-foreign-2", "time": "2026-11-24T09:05:00Z"}, unwatched_region,
                foreign_alarm)
    reasons = [r["reason"] for r in org.replay.report.rejections]
    assert reasons[:2] == [f"{FOREIGN} eu-west-1: not an account × Region of organization.accounts and .regions: "
                           "counted, not believed"] * 2
    assert "watched in eu-west-1, eu-central-1 only (organization.regions), not ap-southeast-2" in reasons[2]
    assert f"account {FOREIGN} is not in intake.allowed_accounts or organization.accounts" in reasons[3]
    assert org.incidents() == []
    # The two alarm claims are counted in their hour (a burst of them pages a Security Threat).
    [hour] = org.items(keys.SUSPICIOUS)
    assert hour["claims"] == 2


def test_the_day_of_examples_multi_account(tmp_path, capsys) -> None:
    """`opsctl replay examples/multi-account.jsonl --config config/production-api.example.yaml`."""
    report_path = tmp_path / "report.json"
    assert main(["replay", str(ROOT / "examples" / "multi-account.jsonl"), "--config",
                 str(ROOT / "config" / "production-api.example.yaml"), "--report", str(report_path),
                 "--state", str(tmp_path / "state.json")]) == 0
    report = json.loads(report_path.read_text())
    assert report["events"]["rejected"] == 3
    assert [(i["alarm"], i["account"], i["region"], i["severity"], i["status"]) for i in report["incidents"]] == [
        ("checkout-production-error-rate", CHECKOUT, "eu-central-1", "P1", "RESOLVED"),
        ("checkout-production-error-rate", REPORTING, "eu-west-1", "P2", "OPEN"),
        ("shared-edge-traffic-spike", SHARED, "eu-west-1", "P1", "RESOLVED"),
        ("financeanalyst-api-production-blind-spot", REPORTING, "eu-central-1", "P1", "OPEN"),
        # reporting-prod's backup job failed, and at the hourly verification it has no recovery point.
        (f"{PREFIX}-backup-job-dynamodb-table-reporting-prod-orders", REPORTING, "eu-west-1", "P2", "OPEN"),
        (f"{PREFIX}-backup-freshness-dynamodb-table-reporting-prod-orders", REPORTING, "eu-west-1", "P1", "OPEN")]
    assert report["rejections"][0]["reason"].startswith("555566667777 eu-west-1: not an account × Region")
    assert report["rejections"][2]["reason"].startswith("555566667777 eu-west-1: not the hub's nor an account")
    assert [(a["type"], a["target"], a["result"]) for a in report["actions"]
            if a["type"] in ("rollback", "waf.block", "waf.count", "outcome-check")] == [
        ("rollback", "checkout", "executed"), ("waf.block", EDGE, "executed"),
        ("waf.count", EDGE, "scheduled"), ("outcome-check", "checkout", "succeeded"),
        ("outcome-check", EDGE, "succeeded"), ("waf.count", EDGE, "executed")]
    # `opsctl org status`: every configured pair, when it was last heard from, its role check; and the
    # account the organizational unit has but the config does not list, with its refused heartbeat.
    capsys.readouterr()
    assert main(["org", "status", "--config", str(ROOT / "config" / "production-api.example.yaml"),
                 "--state", str(tmp_path / "state.json"), "--json"]) == 1  # a blind spot
    rows = {row["where"]: row for row in json.loads(capsys.readouterr().out)}
    assert {where: row["state"] for where, row in rows.items()} == {
        f"checkout-prod ({CHECKOUT}) eu-west-1": "watched", f"checkout-prod ({CHECKOUT}) eu-central-1": "watched",
        f"reporting-prod ({REPORTING}) eu-west-1": "watched", f"reporting-prod ({REPORTING}) eu-central-1": "blind spot",
        f"shared-services ({SHARED}) eu-west-1": "watched", f"shared-services ({SHARED}) eu-central-1": "watched",
        "555566667777 eu-west-1": "not configured"}
    assert rows["555566667777 eu-west-1"]["refused"] == 1
    assert {row["role_check"] for row in rows.values() if row["configured"]} == {"ok"}
    assert rows[f"reporting-prod ({REPORTING}) eu-central-1"]["last_heartbeat_at"] == "2026-11-24T09:00:00.000Z"


def test_a_check_assumes_a_bounded_number_of_roles_failing_and_oldest_first(org: Org, monkeypatch) -> None:
    """500 accounts' roles do not fit one check: each run assumes ROLE_CHECKS_PER_RUN of them, those
    never checked or failing first, then the longest unchecked; the others keep their last result."""
    monkeypatch.setattr(function_module("coverage", "coverage_service"), "ROLE_CHECKS_PER_RUN", 1)
    org.deliver(*[e for e in lines(until="2026-11-24T09:01") if e.get("source") == "ops.spoke"])

    def checked_at(minute: int) -> dict[str, str]:
        org.deliver({"task": "coverage-check", "at": f"2026-11-24T09:{minute:02d}:00Z"})
        return {p["account"]: p["role_checked_at"] for p in org.repository(Coverage).pairs()
                if p["region"] == "eu-west-1" and p.get("role_checked_at")}

    first = checked_at(1)
    assert sorted(first) == [CHECKOUT]  # one role a run: the first never checked
    second, third = checked_at(2), checked_at(3)
    assert sorted(third) == [CHECKOUT, REPORTING, SHARED] and len(second) == 2
    org.member(REPORTING, "eu-west-1", "iam").delete_role(RoleName=ROLE)
    fourth = checked_at(4)  # the longest unchecked (checkout's): fine
    assert fourth[CHECKOUT] == "2026-11-24T09:04:00.000Z"
    fifth = checked_at(5)  # then reporting's, which fails: from then on, it is checked every run
    assert fifth[REPORTING] == "2026-11-24T09:05:00.000Z"
    assert checked_at(6)[REPORTING] == "2026-11-24T09:06:00.000Z"
    states = {(p["account"], p["region"]): p.get("state") for p in org.repository(Coverage).pairs()}
    assert states[REPORTING, "eu-west-1"] == states[REPORTING, "eu-central-1"] == "ALARM"


def test_a_throttled_assume_role_is_retried_never_a_blind_spot(org: Org) -> None:
    """STS saying "not now" (the SDK's retries spent) fails the invocation for Lambda to retry: the
    rollback is neither decided nor paged as blind, and its retry rolls back; the coverage check
    keeps each account's last role result rather than paging."""
    def throttled(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        return (AWSResponse("https://sts.amazonaws.com/", 400, {}, None),
                {"Error": {"Code": "Throttling", "Message": "Rate exceeded"}, "ResponseMetadata": {"HTTPStatusCode": 400}})

    for function in ("rollback", "coverage"):
        org.world.dependencies(function, org.replay.clock).client("sts").meta.events.register(
            "before-call.sts.AssumeRole", throttled, unique_id="throttled")
    org.deliver(*lines(until="2026-11-24T09:11", accounts=(CHECKOUT, "111122223333")))
    assert org.checkout_alias() == "2"
    assert not [a for a in org.replay.report.actions if a["type"] == "rollback"]
    assert org.repository(Guardrails).decisions() == []
    org.deliver(*[e for e in lines(until="2026-11-24T09:02") if e.get("source") == "ops.spoke"],
                {"task": "coverage-check", "at": "2026-11-24T09:02:00Z"})
    assert not [s for s in org.subjects("P1") if "Blind spot" in s]
    assert {p["role_check"] for p in org.repository(Coverage).pairs() if "role_check" in p} == {"not checked yet"}
    # STS answers again: Lambda's retry of the same event rolls back.
    for function in ("rollback", "coverage"):
        org.world.dependencies(function, org.replay.clock).client("sts").meta.events.unregister(
            "before-call.sts.AssumeRole", unique_id="throttled")
    [opened] = [item["event"] for item in org.items(keys.OUTBOX) if item["event"]["DetailType"] == "Incident Opened"]
    org.replay.run_function("rollback", {"version": "0", "id": "retry", "detail-type": opened["DetailType"],
                                         "source": opened["Source"], "time": opened["Time"], "account": "111122223333",
                                         "region": "eu-west-1", "detail": json.loads(opened["Detail"])})
    assert org.checkout_alias() == "1"


# --- backups per member account: each spoke's vault, judged from the hub --------------------------

BACKUP_JOBS = [e for e in EXAMPLE if e.get("source") == "aws.backup"]
HOURLY_VERIFY = {"task": "verify", "at": "2026-11-24T10:00:00Z"}


def table(account: str, name: str) -> str:
    return f"arn:aws:dynamodb:eu-west-1:{account}:table/{name}"


def test_the_hourly_backup_verification_judges_every_member_account_in_its_own_account(org: Org) -> None:
    """The hub's hourly run verifies its own backups and asks for each member account's, one
    invocation each; each looks in its account's every watched Region through the spoke role (session
    "backup-verify"). A member table without a completed recovery point is a P1 there."""
    fresh = [e for e in BACKUP_JOBS if e["detail"]["state"] == "COMPLETED"]
    org.deliver(*fresh, HOURLY_VERIFY)
    [incident] = org.incidents()
    assert (incident["alarm"], incident["account"], incident["region"], incident["severity"]) == (
        f"{PREFIX}-backup-freshness-dynamodb-table-reporting-prod-orders", REPORTING, "eu-west-1", "P1")
    assert "no completed recovery point at all" in org.reasons()[incident["id"]]
    for account in (CHECKOUT, REPORTING, SHARED):
        assert org.sessions(account) == {"backup-verify"}
    # A member account's run reports what it looked at, and where.
    result = org.replay.invoke("backup_verify", {
        "version": "0", "id": "due", "detail-type": "Member Backups Due", "source": "ops.control-plane",
        "account": "111122223333", "region": "eu-west-1", "time": "2026-11-24T10:05:00Z",
        "detail": {"account": CHECKOUT}})
    assert [(c["target"], c["result"]) for c in result["checks"]] == [
        (f"{table(CHECKOUT, 'checkout-prod-orders')} in checkout-prod ({CHECKOUT}) eu-west-1", "OK")]
    assert {(f["check"], f["subject"], f["region"], f["state"]) for f in result["findings"]} == {
        ("blind-spot", "protected-resources", "eu-west-1", "OK"),
        ("freshness", table(CHECKOUT, "checkout-prod-orders"), "eu-west-1", "OK"),
        ("blind-spot", "protected-resources", "eu-central-1", "OK"),  # nothing tagged there: none to verify
        *(("retention", f"backup-rule:{rule}", region, "OK") for rule in ("full", "database")
          for region in ("eu-west-1", "eu-central-1"))}
    # Its next completed job, forwarded by the spoke, resolves it there at once.
    completed = json.loads(json.dumps(fresh[2]))
    completed |= {"id": "reporting-fresh", "account": REPORTING, "time": "2026-11-24T10:20:00Z",
                  "resources": [table(REPORTING, "reporting-prod-orders")]}
    completed["detail"] |= {"resourceArn": table(REPORTING, "reporting-prod-orders"), "backupJobId": "R-2",
                            "creationDate": "2026-11-24T10:10:00.000Z", "completionDate": "2026-11-24T10:20:00.000Z"}
    org.deliver(completed)
    assert [i["status"] for i in org.incidents()] == ["RESOLVED"]


def test_a_members_failed_job_is_an_incident_there_and_an_unwatched_accounts_is_refused_and_counted(org: Org) -> None:
    failed = [e for e in BACKUP_JOBS if e["detail"]["state"] == "FAILED"]
    org.deliver(*failed)
    [incident] = org.incidents()
    assert (incident["alarm"], incident["account"], incident["region"], incident["severity"]) == (
        f"{PREFIX}-backup-job-dynamodb-table-reporting-prod-orders", REPORTING, "eu-west-1", "P2")
    assert "FAILED: Insufficient privileges" in org.reasons()[incident["id"]]
    [refused] = org.replay.report.rejections
    assert refused["reason"] == ("555566667777 eu-west-1: not the hub's nor an account × Region of "
                                 "organization.accounts and .regions: counted, not judged")
    [hour] = org.items(keys.SUSPICIOUS)
    assert hour["claims"] == 1


def test_a_member_whose_role_cannot_be_assumed_is_a_backup_blind_spot_there(org: Org) -> None:
    """Fail closed: the hub cannot look at shared-services' backups, so nothing there is known to be
    backed up: a blind spot in each of its Regions (and the coverage check pages its role too)."""
    org.member(SHARED, "eu-west-1", "iam").delete_role(RoleName=ROLE)
    org.deliver(*[e for e in BACKUP_JOBS if e["detail"]["state"] == "COMPLETED"], HOURLY_VERIFY)
    blind = [i for i in org.incidents() if i["account"] == SHARED]
    assert [(i["alarm"], i["region"], i["severity"]) for i in blind] == [
        (f"{PREFIX}-backup-blind-spot-protected-resources", region, "P2") for region in ("eu-west-1", "eu-central-1")]
    assert all(f"cannot assume arn:aws:iam::{SHARED}:role/{ROLE}" in org.reasons()[i["id"]] for i in blind)


def test_member_backups_due_for_an_account_not_configured_is_refused(org: Org) -> None:
    """Our own bus's events are claims: the fan-out's account must be a configured member."""
    [outcome] = org.replay.run_function("backup_verify", {
        "version": "0", "id": "due", "detail-type": "Member Backups Due", "source": "ops.control-plane",
        "account": "111122223333", "region": "eu-west-1", "time": "2026-11-24T10:00:00Z",
        "detail": {"account": FOREIGN}})
    assert outcome == {"result": "rejected", "reason": f"backup_verify raised MalformedEvent: '{FOREIGN}' is not an "
                                                      "account of organization.accounts: not ours to verify"}
    assert sts_backends[FOREIGN]["aws"].assumed_roles == []
