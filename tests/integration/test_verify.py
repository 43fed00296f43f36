"""`opsctl verify`: green on a deployment as configured, and each thing a deploy (or a person with
the console) can get wrong afterwards is named, with a non-zero exit."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone

import pytest
from moto.sns.models import sns_backends

from controlplane.clock import FixedClock
from controlplane.config import ControlPlaneConfig
from controlplane.events import INCIDENT_OPENED_PATTERN
from controlplane.policy import Policy
from opsctl import deployment
from opsctl.context import OperatorContext
from opsctl.main import main
from opsctl.verify import AREAS, Check, verify
from opsctl.world import LocalWorld
from paths import ROOT


def checks_of(world: LocalWorld, config: ControlPlaneConfig) -> list[Check]:
    deps = world.dependencies("opsctl", FixedClock(datetime(2026, 11, 30, tzinfo=timezone.utc)))
    return verify(OperatorContext(config, deps, world))


def problems(world: LocalWorld, config: ControlPlaneConfig) -> dict[str, str]:
    return {f"{c.area} {c.subject}": c.problem for c in checks_of(world, config) if not c.ok}


def test_a_deployment_as_configured_passes_every_check(world, config) -> None:
    checks = checks_of(world, config)
    assert problems(world, config) == {}
    assert {c.area for c in checks} == set(AREAS) - {"spokes"}  # no organization: no spokes
    counts = {area: sum(c.area == area for c in checks) for area in AREAS}
    assert counts == {"alarms": len(config.deployed_alarms),
                      "rules": len(deployment.deployed_rules(config, Policy(world.policy))) + 1,  # + the SNS intake
                      "schedules": len(deployment.standing_schedules(config, Policy(config.policy()))),
                      "subscriptions": sum(len(emails) for emails in config.contacts.values()),
                      "dead-letters": len(deployment.dead_letter_queues(config.prefix, Policy(config.policy()))),
                      "waf": 1, "backup": 2, "pagerduty": 2,  # a routing key, the signing secrets
                      "drift": 2, "spokes": 0}  # the rule, the recorder; no organization


def _delete_alarm(world: LocalWorld) -> None:
    world.client("cloudwatch").delete_alarms(AlarmNames=["financeanalyst-pro-demo-error-rate"])


def _retune_alarm(world: LocalWorld) -> None:
    cloudwatch = world.client("cloudwatch")
    alarm = cloudwatch.describe_alarms(AlarmNames=["financeanalyst-pro-demo-availability"])["MetricAlarms"][0]
    cloudwatch.put_metric_alarm(**{k: alarm[k] for k in ("AlarmName", "Namespace", "MetricName", "Dimensions", "Period",
                                                       "EvaluationPeriods", "ComparisonOperator", "Statistic")},
                                Threshold=50.0)


def _reallocate_storage(world: LocalWorld) -> None:
    """Someone edits the storage formula in the console for a bigger disk, not in the config."""
    cloudwatch = world.client("cloudwatch")
    alarm = cloudwatch.describe_alarms(AlarmNames=["financeanalyst-pro-demo-storage"])["MetricAlarms"][0]
    metrics = [dict(m, Expression="100 * (1 - free / 214748364800)") if "Expression" in m else m
               for m in alarm["Metrics"]]
    cloudwatch.put_metric_alarm(**{k: alarm[k] for k in ("AlarmName", "EvaluationPeriods", "ComparisonOperator",
                                                       "Threshold")}, Metrics=metrics)


def _disable_rule(world: LocalWorld) -> None:
    events = world.client("events")
    rule = next(r for r in events.list_rules(EventBusName=world.settings.ops_bus_name)["Rules"]
                if json.loads(r["EventPattern"]) == INCIDENT_OPENED_PATTERN)
    events.disable_rule(Name=rule["Name"], EventBusName=world.settings.ops_bus_name)


def _retarget_intake_rule(world: LocalWorld) -> None:
    events = world.client("events")
    rule = next(r for r in events.list_rules()["Rules"]
                if json.loads(r["EventPattern"])["source"] == ["aws.cloudwatch"])
    events.put_targets(Rule=rule["Name"], Targets=[{
        "Id": "function", "Arn": "arn:aws:lambda:us-east-1:123456789012:function:someone-else"}])


def _delete_schedule(world: LocalWorld) -> None:
    world.client("scheduler").delete_schedule(Name="financeanalyst-pro-demo-daily-report",
                                              GroupName="financeanalyst-pro-demo-calendar")


def _pending_subscription(world: LocalWorld) -> None:
    backend = sns_backends[world.config.account][world.config.region]
    subscription = next(s for s in backend.subscriptions.values()
                        if s.endpoint == "pm@financeanalyst.pro" and s.protocol == "email")
    subscription.arn = "PendingConfirmation"  # as SNS lists one nobody has confirmed


def _dead_letter(world: LocalWorld) -> None:
    sqs = world.client("sqs")
    url = sqs.get_queue_url(QueueName="financeanalyst-pro-demo-outbox-relay-dlq")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="{}")


def _drop_rate_rule(world: LocalWorld) -> None:
    wafv2 = world.session.client("wafv2", region_name="us-east-1")
    name = world.config.waf["web_acl_name"]
    current = wafv2.get_web_acl(Name=name, Scope="CLOUDFRONT", Id=world.settings.web_acl_id)
    acl = current["WebACL"]
    wafv2.update_web_acl(Name=name, Scope="CLOUDFRONT", Id=world.settings.web_acl_id, LockToken=current["LockToken"],
                         DefaultAction=acl["DefaultAction"], VisibilityConfig=acl["VisibilityConfig"],
                         Rules=[r for r in acl["Rules"] if r["Name"] != world.config.waf["rule_name"]])


def _delete_vault(world: LocalWorld) -> None:
    world.client("backup").delete_backup_vault(BackupVaultName=world.config.backup["vault_name"])


def _fresh_secret(world: LocalWorld) -> None:
    """The routing key's secret as the stack made it: nobody has put the key yet."""
    secrets = world.client("secretsmanager")
    secrets.delete_secret(SecretId="financeanalyst-pro-demo/pagerduty/financeanalyst-emergency", ForceDeleteWithoutRecovery=True)
    secrets.create_secret(Name="financeanalyst-pro-demo/pagerduty/financeanalyst-emergency",
                          SecretString=json.dumps({"routing_key": ""}))


def _stop_recording(world: LocalWorld) -> None:
    world.client("config").stop_configuration_recorder(ConfigurationRecorderName="default")


BREAKAGES: dict[str, tuple[Callable[[LocalWorld], None], str, str]] = {
    "alarm deleted": (_delete_alarm, "alarms financeanalyst-pro-demo-error-rate", "missing"),
    "threshold changed": (_retune_alarm, "alarms financeanalyst-pro-demo-availability",
                          "Threshold is 50.0, configured 99.9"),
    "formula changed": (_reallocate_storage, "alarms financeanalyst-pro-demo-storage",
                        "Formula is '100 * (1 - free / 214748364800)', configured '100 * (1 - free / 107374182400)'"),
    "rule disabled": (_disable_rule, "rules financeanalyst-pro-demo-ops bus → escalation (Incident Opened)",
                      "is DISABLED"),
    "rule retargeted": (_retarget_intake_rule, "rules default bus → triage (CloudWatch Alarm State Change)",
                        "not financeanalyst-pro-demo-triage"),
    "schedule deleted": (_delete_schedule, "schedules financeanalyst-pro-demo-calendar/financeanalyst-pro-demo-daily-report",
                         "missing"),
    "subscription unconfirmed": (_pending_subscription, "subscriptions P2 → pm@financeanalyst.pro", "not confirmed"),
    "dead letter waiting": (_dead_letter, "dead-letters financeanalyst-pro-demo-outbox-relay-dlq", "1 message(s) waiting"),
    "rate rule removed": (_drop_rate_rule, "waf financeanalyst-pro-demo-edge/runbook-rate-limit", "missing"),
    "vault deleted": (_delete_vault, "backup vault financeanalyst-pro-demo-backups", "missing"),
    "routing key not put": (_fresh_secret, "pagerduty financeanalyst-pro-demo/pagerduty/financeanalyst-emergency",
                            "still the empty value the stack created"),
    "config not recording": (_stop_recording, "drift configuration recorder", "AWS Config records nothing"),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_each_departure_from_the_config_is_named(world, config, breakage: str) -> None:
    change, subject, problem = BREAKAGES[breakage]
    change(world)
    found = problems(world, config)
    assert list(found) == [subject]
    assert problem in found[subject]


def test_a_check_that_cannot_read_is_a_finding(world, config, monkeypatch) -> None:
    from botocore.exceptions import ClientError

    def denied(*_, **__):
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}, "GetSchedule")

    deps = world.dependencies("opsctl", FixedClock(datetime(2026, 11, 30, tzinfo=timezone.utc)))
    monkeypatch.setattr(deps.client("scheduler"), "get_schedule", denied)
    found = {f"{c.area} {c.subject}": c.problem for c in verify(OperatorContext(config, deps, world)) if not c.ok}
    assert list(found) == ["schedules *"]
    assert "AccessDeniedException" in found["schedules *"]


def test_verify_on_the_replay_state_exits_by_its_findings(tmp_path, capsys) -> None:
    state = tmp_path / "state.json"
    assert main(["replay", str(ROOT / "examples" / "incident-day.jsonl"), "--report", str(tmp_path / "r.json"),
                 "--state", str(state)]) == 0
    capsys.readouterr()
    assert main(["verify", "--state", str(state)]) == 0
    out = capsys.readouterr().out
    assert "The deployment matches its config." in out
    assert main(["verify", "--state", str(state), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and len(report["checks"]) > 40


def test_the_load_balancer_example_deploys_and_verifies_in_its_own_region(aws, tmp_path) -> None:
    """config/production-api.example.yaml: eu-west-1, metric-math alarms over what the load balancer and
    RDS publish, a REGIONAL WebACL in the shared-services account. Provisioned as deployed, every check
    passes (the WebACL read there through the spoke role), and the WebACL the toggle flips is in that
    account's eu-west-1: none in the hub, none in us-east-1."""
    from controlplane.config import load_config
    from opsctl.world import provision

    config = load_config(ROOT / "config" / "production-api.example.yaml")
    world = provision(config, config.policy(), workdir=tmp_path)
    assert problems(world, config) == {}
    # It is an organization's hub: the spoke StackSet's every member account × Region is checked.
    spokes = [c.subject for c in checks_of(world, config) if c.area == "spokes"]
    assert len(spokes) == 6 and "financeanalyst-api-production-spoke in checkout-prod (222233334444) eu-central-1" in spokes
    world.client("cloudformation").delete_stack_instances(
        StackSetName="financeanalyst-api-production-spoke", Accounts=["333344445555"], Regions=["eu-central-1"],
        RetainStacks=False)
    assert problems(world, config) == {
        "spokes financeanalyst-api-production-spoke in reporting-prod (333344445555) eu-central-1":
            "no stack instance (is the account in organization.units?)"}
    [waf] = [c.subject for c in checks_of(world, config) if c.area == "waf"]
    assert waf == "shared-edge/runbook-rate-limit in shared-services (444455556666) eu-west-1"
    shared = world.member("444455556666", "eu-west-1").client("wafv2").list_web_acls(Scope="REGIONAL")["WebACLs"]
    assert [acl["Name"] for acl in shared] == ["shared-edge"]
    assert world.session.client("wafv2", region_name="eu-west-1").list_web_acls(Scope="REGIONAL")["WebACLs"] == []
    assert world.session.client("wafv2", region_name="us-east-1").list_web_acls(Scope="CLOUDFRONT")["WebACLs"] == []
    alarm = world.client("cloudwatch").describe_alarms(AlarmNames=["financeanalyst-api-production-availability"])
    [formula] = [m for m in alarm["MetricAlarms"][0]["Metrics"] if "Expression" in m]
    assert formula["Expression"] == "100 * (1 - (FILL(target, 0) + FILL(balancer, 0)) / requests)"
