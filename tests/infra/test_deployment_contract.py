"""The synthesized template is what `opsctl.deployment` says a deployment consists of: the schedules,
the rules and the function each reaches, the dead-letter queues, the subscriptions. `opsctl verify`
and the local world read that module, so neither can drift from what `cdk deploy` creates."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controlplane.events import backup_plan_name, intake_topic, notify_topic, ops_bus_name
from controlplane.policy import Policy
from opsctl import deployment


@pytest.fixture(scope="module")
def resources(template_path) -> dict[str, dict[str, Any]]:
    return json.loads(template_path.read_text())["Resources"]


def name_of(resources: dict[str, dict[str, Any]], reference: Any) -> Any:
    """A Ref or GetAtt …Arn of one of our named resources, as the name it deploys with."""
    if not isinstance(reference, dict):
        return reference
    logical = reference.get("Ref") or reference.get("Fn::GetAtt", [None])[0]
    properties = resources[logical]["Properties"]
    for key in ("Name", "FunctionName", "TopicName", "QueueName"):
        if key in properties:
            return properties[key]
    raise AssertionError(f"{reference}: not a named resource")


def of_type(resources: dict[str, dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r["Properties"] for r in resources.values() if r["Type"] == kind]


def test_schedules_are_the_standing_schedules(resources, config) -> None:
    deployed = {(name_of(resources, s["GroupName"]), s["Name"], s["ScheduleExpression"],
                 name_of(resources, s["Target"]["Arn"]), s["Target"]["Input"])
                for s in of_type(resources, "AWS::Scheduler::Schedule")}
    expected = {(s.group, s.name, s.expression, f"{config.prefix}-{s.function.replace('_', '-')}", json.dumps(s.payload))
                for s in deployment.standing_schedules(config, Policy(config.policy()))}
    assert deployed == expected


def test_rules_are_the_deployed_rules(resources, config) -> None:
    deployed = sorted(
        (name_of(resources, r.get("EventBusName")) or deployment.DEFAULT_BUS, json.dumps(r["EventPattern"], sort_keys=True),
         name_of(resources, target["Arn"]), r["State"])
        for r in of_type(resources, "AWS::Events::Rule") if "EventPattern" in r
        for target in r["Targets"])
    expected = sorted((rule.bus, json.dumps(rule.pattern, sort_keys=True),
                       f"{config.prefix}-{rule.function.replace('_', '-')}", "ENABLED")
                      for rule in deployment.deployed_rules(config, Policy(config.policy())))
    assert deployed == expected


def test_dead_letter_queues_and_subscriptions(resources, config) -> None:
    queues = {q["QueueName"] for q in of_type(resources, "AWS::SQS::Queue")}
    assert queues == set(deployment.dead_letter_queues(config.prefix, Policy(config.policy())))
    emails = sorted((name_of(resources, s["TopicArn"]), s["Endpoint"])
                    for s in of_type(resources, "AWS::SNS::Subscription") if s["Protocol"] == "email")
    assert emails == sorted((notify_topic(config.prefix, severity), email)
                            for severity, contacts in config.contacts.items() for email in contacts)
    intake = [(name_of(resources, s["TopicArn"]), name_of(resources, s["Endpoint"]))
              for s in of_type(resources, "AWS::SNS::Subscription") if s["Protocol"] == "lambda"]
    assert intake == [(intake_topic(config.prefix), f"{config.prefix}-triage")]


def test_backup_plan_and_ops_bus_names(resources, config) -> None:
    plans = [p["BackupPlan"]["BackupPlanName"] for p in of_type(resources, "AWS::Backup::BackupPlan")]
    assert plans == [backup_plan_name(config.prefix)]
    buses = [b["Name"] for b in of_type(resources, "AWS::Events::EventBus")]
    assert buses == [ops_bus_name(config.prefix)]
