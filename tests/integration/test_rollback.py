"""Rollback under moto (Lambda versions and aliases, CloudFront, S3) and botocore's Stubber where
moto is too lenient (it accepts a stale IfMatch)."""

from __future__ import annotations

import copy
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from botocore.stub import Stubber

from controlplane.events import DEPLOY_SOURCE, DEPLOYMENT_COMPLETED, INCIDENT_OPENED, OPS_SOURCE
from controlplane.ledger import from_item
from factories import eventbridge_alarm
from faults import LambdaDied, crash_after
from opsctl import lambda_host

DEPLOYED = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)
ERROR_RATE = "financeanalyst-pro-demo-error-rate"
HEALTH = "financeanalyst-pro-demo-health"


def deployment(target: str, version: str, at: datetime, *, force: bool = False) -> dict[str, Any]:
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": DEPLOYMENT_COMPLETED, "source": DEPLOY_SOURCE,
            "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "detail": {"target": target, "version": version, "deployed_by": "ci", "force": force}}


def incident(alarm: str, fired: datetime, *, severity: str = "P1", transition: str = "t-1",
             incident_id: str = "INC-2026-001") -> dict[str, Any]:
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": INCIDENT_OPENED, "source": OPS_SOURCE,
            "time": fired.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "detail": {"incident_id": incident_id, "severity": severity, "status": "OPEN", "alarm_name": alarm,
                       "alarm_arn": f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{alarm}",
                       "remediation": "rollback", "actionable": True, "transition_id": transition,
                       "state_changed_at": fired.strftime("%Y-%m-%dT%H:%M:%S.000Z")}}


class Targets:
    def __init__(self, harness) -> None:
        self.harness = harness
        self.policy = harness.world.policy["rollback"]["targets"]

    def run(self, event: dict[str, Any], at: datetime) -> list[dict[str, Any]]:
        harness = self.harness
        harness.clock.set(at)
        from opsctl import lambda_host

        deps = harness.world.dependencies("rollback", harness.clock)
        harness.as_triage_announced(event)
        return list(lambda_host.invoke("rollback", event, deps)["actions"])

    def alias(self) -> dict[str, Any]:
        spec = self.policy["api"]
        return self.harness.world.client("lambda").get_alias(FunctionName=spec["function"], Name=spec["alias"])

    def origin_path(self) -> str:
        config = self.harness.world.client("cloudfront").get_distribution_config(
            Id=self.policy["web"]["distribution_id"])["DistributionConfig"]
        return str(config["Origins"]["Items"][0]["OriginPath"])

    def deploy_history(self) -> None:
        self.run(deployment("api", "1", DEPLOYED - timedelta(hours=5)), DEPLOYED - timedelta(hours=5))
        self.run(deployment("api", "2", DEPLOYED), DEPLOYED)
        self.run(deployment("web", "v1", DEPLOYED - timedelta(hours=5)), DEPLOYED - timedelta(hours=5))
        self.run(deployment("web", "v2", DEPLOYED), DEPLOYED)

    def items(self, prefix: str) -> list[dict[str, Any]]:
        rows = self.harness.world.client("dynamodb").scan(TableName=self.harness.world.settings.ledger_table)["Items"]
        return [from_item(r) for r in rows if r["pk"]["S"].startswith(prefix)]


@pytest.fixture
def targets(harness) -> Targets:
    made = Targets(harness)
    made.deploy_history()
    return made


def test_alias_rolls_back_to_the_previous_good_version(targets) -> None:
    [action] = targets.run(incident(ERROR_RATE, DEPLOYED + timedelta(minutes=6)), DEPLOYED + timedelta(minutes=6))
    assert (action["type"], action["target"], action["result"]) == ("rollback", "api", "executed")
    alias = targets.alias()
    assert alias["FunctionVersion"] == "1" and not alias.get("RoutingConfig", {}).get("AdditionalVersionWeights")
    [quarantine] = targets.items("QUARANTINE#api")
    assert quarantine["sk"] == "2" and quarantine["decision"] == action["decision"]
    [head] = [i for i in targets.items("DEPLOY#api") if i["sk"] == "HEAD"]
    assert head["live_version"] == "1"
    [page] = targets.harness.notifications("P1")
    assert page["Subject"] == "[ROLLBACK] api: 2 -> 1" and "quarantined" in page["Message"]
    assert [s["Name"] for s in targets.harness.follow_ups()] == [f"rollback-outcome-{action['decision']}"]


def test_static_site_switches_origin_path_and_invalidates_entry_paths_only(targets) -> None:
    [action] = targets.run(incident(HEALTH, DEPLOYED + timedelta(minutes=3), severity="P0"),
                           DEPLOYED + timedelta(minutes=3))
    assert action["result"] == "executed" and targets.origin_path() == "/releases/v1"
    cloudfront = targets.harness.world.client("cloudfront")
    distribution = targets.policy["web"]["distribution_id"]
    [summary] = cloudfront.list_invalidations(DistributionId=distribution)["InvalidationList"]["Items"]
    batch = cloudfront.get_invalidation(DistributionId=distribution, Id=summary["Id"])["Invalidation"]
    assert batch["InvalidationBatch"]["Paths"]["Items"] == ["/index.html"]
    assert targets.harness.notifications("P0")[0]["Subject"] == "[ROLLBACK] web: v2 -> v1"


@pytest.mark.parametrize(("minutes", "result"), [(29, "executed"), (31, "skipped")])
def test_bake_window_edges(targets, minutes: int, result: str) -> None:
    at = DEPLOYED + timedelta(minutes=minutes)
    [action] = targets.run(incident(ERROR_RATE, at), at)
    assert action["result"] == result
    assert targets.alias()["FunctionVersion"] == ("1" if result == "executed" else "2")
    if result == "skipped":
        assert action["reason"].startswith("outside the bake window: 2 was deployed 31 min ago")


def test_an_alarm_already_firing_before_the_deploy_escalates_instead(targets) -> None:
    event = incident(ERROR_RATE, DEPLOYED - timedelta(minutes=2))
    [action] = targets.run(event, DEPLOYED + timedelta(minutes=1))
    assert action["result"] == "escalated" and targets.alias()["FunctionVersion"] == "2"
    [page] = targets.harness.notifications("P0")
    assert "no evidence" in page["Message"]


def test_quarantined_version_needs_force_to_be_recorded_again(targets) -> None:
    targets.run(incident(ERROR_RATE, DEPLOYED + timedelta(minutes=6)), DEPLOYED + timedelta(minutes=6))
    targets.harness.all_notifications()
    [refused] = targets.run(deployment("api", "2", DEPLOYED + timedelta(hours=1)), DEPLOYED + timedelta(hours=1))
    assert refused["result"] == "refused" and "--force" in refused["reason"]
    assert targets.harness.notifications("P1")[0]["Subject"] == "[DEPLOY] api 2 refused: quarantined"
    [recorded] = targets.run(deployment("api", "2", DEPLOYED + timedelta(hours=1), force=True),
                             DEPLOYED + timedelta(hours=1))
    assert recorded["result"] == "recorded" and targets.items("QUARANTINE#api") == []


def test_fifty_duplicate_incident_events_roll_back_once(targets) -> None:
    event = incident(ERROR_RATE, DEPLOYED + timedelta(minutes=6))
    results = [targets.run(event, DEPLOYED + timedelta(minutes=6, seconds=i))[0]["result"] for i in range(50)]
    assert results.count("executed") == 1 and results.count("skipped") == 49
    assert len(targets.items("DECISION#")) == 1 and len(targets.harness.notifications("P1")) == 1


def test_dry_run_decides_and_changes_nothing(targets) -> None:
    targets.harness.use_policy(lambda p: p["capabilities"]["rollback"].update(mode="dry-run"))
    [action] = targets.run(incident(ERROR_RATE, DEPLOYED + timedelta(minutes=6)), DEPLOYED + timedelta(minutes=6))
    assert action["result"] == "dry_run" and targets.alias()["FunctionVersion"] == "2"
    assert targets.items("QUARANTINE#") == []
    [decision] = targets.items("DECISION#")
    assert decision["details"] == {"from": "2", "to": "1"}


def test_no_previous_good_version_fails_closed(harness) -> None:
    fresh = Targets(harness)
    fresh.run(deployment("api", "2", DEPLOYED), DEPLOYED)
    [action] = fresh.run(incident(ERROR_RATE, DEPLOYED + timedelta(minutes=6)), DEPLOYED + timedelta(minutes=6))
    assert action["result"] == "skipped" and "no previous good version of api" in action["reason"]
    assert fresh.alias()["FunctionVersion"] == "2"
    assert harness.notifications("P3")[0]["Subject"] == "[P3] Blind spot: cannot roll back api"


def test_a_deployment_recorded_while_rolling_back_wins(targets, monkeypatch) -> None:
    """The pipeline ships 3 (perhaps the fix) between our read and our ledger write: 3 stays live."""
    from strategies import LambdaAlias

    real_switch = LambdaAlias.switch
    shipped: list[Any] = []

    def switch_while_shipping(self, version, reference):
        result = real_switch(self, version, reference)
        if not shipped:
            shipped.append(1)
            from opsctl.world import _zip

            with lambda_host.outside_functions():  # the pipeline ships, with its own credentials
                targets.harness.world.client("lambda").update_function_code(
                    FunctionName=self.function, ZipFile=_zip({"index.py": "# the fix\n"}), Publish=True)
                self.client.update_alias(FunctionName=self.function, Name=self.alias, FunctionVersion="3")
                targets.run(deployment("api", "3", DEPLOYED + timedelta(minutes=6)), DEPLOYED + timedelta(minutes=6))
        return result

    monkeypatch.setattr(LambdaAlias, "switch", switch_while_shipping)
    [action] = targets.run(incident(ERROR_RATE, DEPLOYED + timedelta(minutes=5)), DEPLOYED + timedelta(minutes=6))
    assert action["result"] == "superseded" and "3 was deployed while rolling back" in action["reason"]
    assert targets.alias()["FunctionVersion"] == "3"
    assert targets.items("QUARANTINE#") == []


def test_origin_switch_retries_on_a_stale_etag(harness) -> None:
    """moto accepts any IfMatch, so the conflict comes from a Stubber with AWS-shaped responses."""
    import boto3

    from strategies import StaticSite

    client = boto3.client("cloudfront", region_name="us-east-1")
    config: dict[str, Any] = {"CallerReference": "x", "Comment": "", "Enabled": True, "DefaultCacheBehavior": {
        "TargetOriginId": "releases", "ViewerProtocolPolicy": "redirect-to-https"},
        "Origins": {"Quantity": 1, "Items": [{"Id": "releases", "DomainName": "b.s3.amazonaws.com",
                                              "OriginPath": "/releases/v2"}]}}
    with Stubber(client) as stub:
        # Fresh copies, as botocore parses a new response each time (the strategy edits what it reads).
        stub.add_response("get_distribution_config", {"DistributionConfig": copy.deepcopy(config), "ETag": "E1"},
                          {"Id": "D1"})
        stub.add_client_error("update_distribution", "PreconditionFailed", http_status_code=412)
        stub.add_response("get_distribution_config", {"DistributionConfig": copy.deepcopy(config), "ETag": "E2"},
                          {"Id": "D1"})
        stub.add_response("update_distribution", {"ETag": "E3"}, {
            "Id": "D1", "IfMatch": "E2", "DistributionConfig": config | {"Origins": {"Quantity": 1, "Items": [
                config["Origins"]["Items"][0] | {"OriginPath": "/releases/v1"}]}}})
        stub.add_response("create_invalidation", {}, {"DistributionId": "D1", "InvalidationBatch": {
            "Paths": {"Quantity": 1, "Items": ["/index.html"]}, "CallerReference": "DEC-1"}})
        result = StaticSite(client, "D1", "releases", ["/index.html"]).switch("v1", reference="DEC-1")
        stub.assert_no_pending_responses()
    assert result["attempts"] == 2 and result["previous"] == "v2"


def test_outcome_check_escalates_when_the_alarm_stays(targets, config) -> None:
    spec = config.alarm("error-rate")
    fired = DEPLOYED + timedelta(minutes=6)
    targets.harness.triage(eventbridge_alarm(spec.name, "ALARM", fired, description=spec.tagged_description), at=fired)
    targets.harness.all_notifications()
    [action] = targets.run(incident(ERROR_RATE, fired), fired)
    [checked] = targets.run({"task": "outcome-check", "decision": action["decision"], "target": "api",
                             "alarm": ERROR_RATE, "at": "x"}, fired + timedelta(minutes=15))
    assert checked["result"] == "failed"
    assert targets.harness.notifications("P0")[0]["Subject"].startswith("[P0] Rollback of api did not clear")


def test_human_rollback_goes_through_the_same_path(targets) -> None:
    [action] = targets.run(targets.harness.human({"task": "manual", "target": "api", "by": "alice", "to": "1"}),
                           DEPLOYED + timedelta(hours=3))  # long after the bake window: humans decide
    assert action["result"] == "executed" and targets.alias()["FunctionVersion"] == "1"
    [decision] = targets.items("DECISION#")
    assert decision["decided_by"] == "human:alice"
    [refused] = targets.run(targets.harness.human({"task": "manual", "target": "api", "by": "alice", "to": "2"}),
                            DEPLOYED + timedelta(hours=3, minutes=1))
    assert refused["result"] == "skipped" and "quarantined" in refused["reason"]


AVAILABILITY = "financeanalyst-pro-demo-availability"


def test_a_redelivered_trigger_after_the_rollback_pages_nothing_more(targets) -> None:
    """The rollback moves HEAD's live_since past the alarm's time; the redelivery must be seen as the
    same trigger first, not as "an alarm that predates the deployment" (a false P0)."""
    fired = DEPLOYED + timedelta(minutes=6)
    [first] = targets.run(incident(ERROR_RATE, fired), fired + timedelta(seconds=30))  # triage, bus, delivery
    targets.harness.empty_queues()
    for minutes in (1, 4, 20):
        [again] = targets.run(incident(ERROR_RATE, fired), fired + timedelta(minutes=minutes))
        assert (again["result"], again["decision"]) == ("skipped", first["decision"])
    assert targets.harness.all_notifications() == []
    assert targets.alias()["FunctionVersion"] == "1"


def test_another_alarms_trigger_after_the_rollback_is_not_a_false_p0(targets) -> None:
    """Two alarms of the same target fired; the first's rollback moved HEAD before the second's
    trigger arrived: what was live when the second fired is gone already."""
    [first] = targets.run(incident(ERROR_RATE, DEPLOYED + timedelta(minutes=6)), DEPLOYED + timedelta(minutes=6))
    targets.harness.empty_queues()
    [second] = targets.run(incident(AVAILABILITY, DEPLOYED + timedelta(minutes=5), transition="t-2",
                                    incident_id="INC-2026-002"), DEPLOYED + timedelta(minutes=7))
    assert second["result"] == "skipped"
    assert second["reason"] == (f"api was rolled back to 1 ({first['decision']}) after {AVAILABILITY} fired: "
                                "nothing left to roll back")
    assert targets.harness.all_notifications() == []


@pytest.mark.parametrize("step", ["switch", "record", "page"])
def test_a_crash_after_any_step_is_finished_by_the_retry(targets, monkeypatch, step: str) -> None:
    """Lambda dies right after the alias switch, the ledger record or the page: the retry of the same
    trigger finishes what is left — one switch, one record, the page and the outcome check."""
    import strategies
    from controlplane.guardrails import Guardrails
    from controlplane.remediation import Remediation

    fired = DEPLOYED + timedelta(minutes=6)
    if step == "switch":
        crash_after(monkeypatch, strategies.LambdaAlias, "switch")
    elif step == "record":
        crash_after(monkeypatch, Guardrails, "record", lambda _self, _decision, result, *_, **__: result == "executed")
    else:  # the page went out; its mark did not
        crash_after(monkeypatch, Remediation, "page")
    with pytest.raises(LambdaDied):
        targets.run(incident(ERROR_RATE, fired), fired)
    monkeypatch.undo()
    [again] = targets.run(incident(ERROR_RATE, fired), fired + timedelta(minutes=1))
    [decision] = targets.items("DECISION#")
    assert decision["result"] == "executed" and decision["done_follow_through"]
    assert again["result"] == ("executed" if step == "switch" else "skipped")
    assert targets.alias()["FunctionVersion"] == "1"
    # A crash between a page and its mark pages twice (never zero times); otherwise exactly once.
    assert [page["Subject"] for page in targets.harness.notifications("P1")] == \
        ["[ROLLBACK] api: 2 -> 1"] * (2 if step == "page" else 1)
    assert [s["Name"] for s in targets.harness.follow_ups()] == [f"rollback-outcome-{decision['id']}"]
