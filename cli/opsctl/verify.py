"""`opsctl verify`: the deployed control plane checked against its config, after a deploy.

Each check reads the account as it is (not the template): the runbook's alarms with their metric
and threshold, the rules and schedules enabled and reaching the right functions, the contacts'
subscriptions confirmed, every dead-letter queue empty, the WebACL's rate rule, the backup vault
and plan, PagerDuty's secrets put, AWS Config recording for the drift check, and with an
organization the spoke StackSet's instance in every member account × Region. A check that cannot
read (no permission, a throttle) is a finding too: "unknown" is not "fine"."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from controlplane.errors import Unreachable
from controlplane.events import (
    backup_plan_name,
    function_name,
    intake_topic,
    pagerduty_secret_name,
    pagerduty_signing_secret_name,
    spoke_stack_set_name,
)
from controlplane.settings import SEVERITIES
from opsctl import deployment
from opsctl.context import OperatorContext


@dataclass(frozen=True)
class Check:
    area: str
    subject: str
    problem: str = ""  # empty: as configured

    @property
    def ok(self) -> bool:
        return not self.problem


AREAS = ("alarms", "rules", "schedules", "subscriptions", "dead-letters", "waf", "backup", "pagerduty", "drift",
         "spokes")


def verify(context: OperatorContext) -> list[Check]:
    checks: list[Check] = []
    for area, run in zip(AREAS, (_alarms, _rules, _schedules, _subscriptions, _dead_letters, _waf, _backup, _pagerduty,
                                 _drift, _spokes), strict=True):
        try:
            checks += run(context)
        except (ClientError, BotoCoreError) as error:
            code = error.response["Error"]["Code"] if isinstance(error, ClientError) else type(error).__name__
            checks.append(Check(area, "*", f"could not be checked ({code}): {error}"))
    return checks


def render(checks: list[Check]) -> str:
    lines = []
    for area in AREAS:
        mine = [c for c in checks if c.area == area]
        good = sum(c.ok for c in mine)
        lines.append(f"{'ok ' if good == len(mine) else 'FAIL'} {area:<14} {good}/{len(mine)} as configured")
        lines += [f"     - {c.subject}: {c.problem}" for c in mine if not c.ok]
    failed = sum(not c.ok for c in checks)
    lines.append(f"\n{failed} problem(s)" if failed else "\nThe deployment matches its config.")
    return "\n".join(lines)


def as_json(checks: list[Check]) -> dict[str, Any]:
    return {"ok": all(c.ok for c in checks), "checks": [asdict(c) for c in checks]}


def _alarms(context: OperatorContext) -> Iterator[Check]:
    config, cloudwatch = context.config, context.deps.client("cloudwatch")
    wanted = {spec.name: spec for spec in config.deployed_alarms}
    names = list(wanted)
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(names), 100):  # DescribeAlarms takes up to 100 names
        for alarm in cloudwatch.describe_alarms(AlarmNames=names[start:start + 100])["MetricAlarms"]:
            found[alarm["AlarmName"]] = alarm
    # The baseline job moves these thresholds every hour.
    retuned = {name for name, alarm in context.deps.policy.alarms.items() if alarm.baseline is not None}
    for name, spec in wanted.items():
        alarm = found.get(name)
        if alarm is None:
            yield Check("alarms", name, "missing")
            continue
        expected = {"ComparisonOperator": spec.comparison, "EvaluationPeriods": spec.evaluation_periods,
                    **_metric_of(spec.metric_queries())}
        if name not in retuned:
            expected["Threshold"] = spec.threshold
        actual = {key: alarm.get(key) for key in expected} | _metric_of(alarm.get("Metrics") or [{
            "Id": "m1", "ReturnData": True, "MetricStat": {
                "Metric": {key: alarm.get(key) for key in ("Namespace", "MetricName", "Dimensions")},
                "Period": alarm.get("Period"), "Stat": alarm.get("Statistic") or alarm.get("ExtendedStatistic")}}])
        wrong = [f"{key} is {actual[key]!r}, configured {value!r}" for key, value in expected.items()
                 if actual[key] != value]
        if not alarm.get("ActionsEnabled", True):
            wrong.append("its actions are disabled")
        yield Check("alarms", name, "; ".join(wrong))


def _metric_of(queries: list[dict[str, Any]]) -> dict[str, Any]:
    """What an alarm watches, whatever ids its metrics were given (CDK names a formula expr_1, we
    name it formula): the formula it returns, if any, and each metric with its period and statistic."""
    formula = next((query["Expression"] for query in queries if "Expression" in query), None)
    watched = sorted(
        (query["MetricStat"]["Metric"].get("Namespace"), query["MetricStat"]["Metric"].get("MetricName"),
         tuple(sorted((d["Name"], d["Value"]) for d in query["MetricStat"]["Metric"].get("Dimensions") or [])),
         query["MetricStat"].get("Period"), query["MetricStat"].get("Stat"))
        for query in queries if "MetricStat" in query)
    return {"Formula": formula, "Metrics": watched}


def _rules(context: OperatorContext) -> Iterator[Check]:
    events = context.deps.client("events")
    deployed: dict[str, list[tuple[dict[str, Any], dict[str, Any], list[str]]]] = {}
    for rule in deployment.deployed_rules(context.config, context.deps.policy):
        if rule.bus not in deployed:
            deployed[rule.bus] = list(_rules_on(events, rule.bus, context.function_behind))
        subject = f"{rule.bus} bus → {rule.function} ({', '.join(rule.pattern['detail-type'])})"
        same = [(found, functions) for found, pattern, functions in deployed[rule.bus] if pattern == rule.pattern]
        wanted = function_name(context.config.prefix, rule.function)
        if not same:
            yield Check("rules", subject, "no rule with this pattern")
        elif not any(wanted in functions for _, functions in same):
            yield Check("rules", subject, f"rule {same[0][0]['Name']} targets {same[0][1] or 'nothing'}, not {wanted}")
        elif not any(found.get("State") == "ENABLED" and wanted in functions for found, functions in same):
            yield Check("rules", subject, f"rule {same[0][0]['Name']} is {same[0][0].get('State')}")
        else:
            yield Check("rules", subject)
    yield _intake_subscription(context)


def _rules_on(events: Any, bus: str, function_behind: Callable[[str], str | None]
              ) -> Iterator[tuple[dict[str, Any], dict[str, Any], list[str]]]:
    """Each rule on `bus`: the rule, its pattern, the functions its targets reach."""
    for rule in _all(events, "list_rules", "Rules", EventBusName=bus):
        if "EventPattern" not in rule:
            continue
        targets = _all(events, "list_targets_by_rule", "Targets", Rule=rule["Name"], EventBusName=bus)
        reached = [name for name in (function_behind(t["Arn"]) for t in targets) if name]
        yield rule, json.loads(rule["EventPattern"]), reached


def _intake_subscription(context: OperatorContext) -> Check:
    prefix, sns = context.config.prefix, context.deps.client("sns")
    topic = context.arn("sns", intake_topic(prefix))
    subject = f"SNS {intake_topic(prefix)} → triage"
    try:
        subscriptions = _all(sns, "list_subscriptions_by_topic", "Subscriptions", TopicArn=topic)
    except ClientError as error:
        if error.response["Error"]["Code"] == "NotFound":
            return Check("rules", subject, "topic missing")
        raise
    reached = {context.function_behind(s["Endpoint"]) for s in subscriptions if s["Protocol"] == "lambda"}
    triage = function_name(prefix, "triage")
    return Check("rules", subject, "" if triage in reached else "triage is not subscribed")


def _schedules(context: OperatorContext) -> Iterator[Check]:
    scheduler = context.deps.client("scheduler")
    for schedule in deployment.standing_schedules(context.config, context.deps.policy):
        subject = f"{schedule.group}/{schedule.name}"
        try:
            found = scheduler.get_schedule(Name=schedule.name, GroupName=schedule.group)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            yield Check("schedules", subject, "missing")
            continue
        wanted = function_name(context.config.prefix, schedule.function)
        wrong = []
        if found.get("State") != "ENABLED":
            wrong.append(f"it is {found.get('State')}")
        if found["ScheduleExpression"] != schedule.expression:
            wrong.append(f"it runs {found['ScheduleExpression']}, configured {schedule.expression}")
        if found.get("ScheduleExpressionTimezone", "UTC") != (schedule.timezone or "UTC"):
            wrong.append(f"it runs in {found.get('ScheduleExpressionTimezone', 'UTC')}, configured {schedule.timezone or 'UTC'}")
        if context.function_behind(found["Target"]["Arn"]) != wanted:
            wrong.append(f"it targets {found['Target']['Arn']}, not {wanted}")
        if json.loads(found["Target"].get("Input") or "null") != schedule.payload:
            wrong.append(f"its input is {found['Target'].get('Input')}, expected {json.dumps(schedule.payload)}")
        yield Check("schedules", subject, "; ".join(wrong))


def _subscriptions(context: OperatorContext) -> Iterator[Check]:
    sns = context.deps.client("sns")
    for severity in SEVERITIES:
        topic = context.deps.settings.notify_topics[severity]
        subscriptions = _all(sns, "list_subscriptions_by_topic", "Subscriptions", TopicArn=topic)
        for email in context.config.contacts.get(severity, ()):
            subject = f"{severity} → {email}"
            mine = [s for s in subscriptions if s["Protocol"] == "email" and s["Endpoint"] == email]
            if not mine:
                yield Check("subscriptions", subject, "not subscribed")
            elif all(s["SubscriptionArn"] == "PendingConfirmation" for s in mine):
                yield Check("subscriptions", subject, "not confirmed yet: they must open the \"AWS Notification - "
                                                      "Subscription Confirmation\" email and confirm")
            else:
                yield Check("subscriptions", subject)


def _dead_letters(context: OperatorContext) -> Iterator[Check]:
    sqs = context.deps.client("sqs")
    for name in deployment.dead_letter_queues(context.config.prefix, context.deps.policy):
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except ClientError as error:
            if error.response["Error"]["Code"] not in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
                raise
            yield Check("dead-letters", name, "missing")
            continue
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        waiting = sum(int(value) for value in attributes.values())
        yield Check("dead-letters", name, f"{waiting} message(s) waiting: each is something the control plane "
                                          "could not do; read them before redriving" if waiting else "")


def _waf(context: OperatorContext) -> Iterator[Check]:
    waf = context.deps.policy.waf
    subject = f"{waf.web_acl_name}/{waf.rule_name}"
    acl_id = context.deps.settings.web_acl_id
    if not acl_id:
        yield Check("waf", subject, f"no {waf.scope} WebACL of this name in {context.config.region}")
        return
    if waf.account != context.config.account:
        subject += f" in {context.deps.policy.organization.where(waf.account, waf.region)}"
    try:  # a member account's through its spoke role, which trusts the hub's functions only
        wafv2 = context.deps.client_in("wafv2", waf.account, waf.region, session_name="opsctl-verify")
    except Unreachable as error:
        yield Check("waf", subject, f"cannot be read from here: {error}")
        return
    acl = wafv2.get_web_acl(Name=waf.web_acl_name, Scope=waf.scope, Id=acl_id)["WebACL"]
    rule = next((r for r in acl["Rules"] if r["Name"] == waf.rule_name), None)
    if rule is None:
        yield Check("waf", subject, "the rate rule is missing from the WebACL")
        return
    limit = rule["Statement"].get("RateBasedStatement", {}).get("Limit")
    yield Check("waf", subject, "" if limit == waf.limit else f"its limit is {limit}, configured {waf.limit}")


def _backup(context: OperatorContext) -> Iterator[Check]:
    backup, config = context.deps.client("backup"), context.deps.policy.backup
    try:
        backup.describe_backup_vault(BackupVaultName=config.vault_name)
        yield Check("backup", f"vault {config.vault_name}")
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        yield Check("backup", f"vault {config.vault_name}", "missing")
    name = backup_plan_name(context.config.prefix)
    plan = next((p for p in _all(backup, "list_backup_plans", "BackupPlansList") if p["BackupPlanName"] == name), None)
    if plan is None:
        yield Check("backup", f"plan {name}", "missing")
        return
    rules = {r["RuleName"] for r in backup.get_backup_plan(BackupPlanId=plan["BackupPlanId"])["BackupPlan"]["Rules"]}
    missing = sorted(set(config.classes) - rules)
    yield Check("backup", f"plan {name}", f"no rule for class(es) {', '.join(missing)}" if missing else "")


def _pagerduty(context: OperatorContext) -> Iterator[Check]:
    """Each configured service's routing key and the webhook's signing secrets put after the deploy.
    Judged without reading them: the stack creates each secret with one (empty) version, and the
    platform team's put makes a second."""
    pagerduty = context.deps.policy.pagerduty
    services = pagerduty.service_names
    if not services:
        return
    secrets = context.deps.client("secretsmanager")
    for name in [*(pagerduty_secret_name(context.config.prefix, s) for s in services),
                 pagerduty_signing_secret_name(context.config.prefix)]:
        try:
            versions = secrets.describe_secret(SecretId=name).get("VersionIdsToStages", {})
        except secrets.exceptions.ResourceNotFoundException:
            yield Check("pagerduty", name, "missing")
            continue
        yield Check("pagerduty", name, "" if len(versions) > 1 else
                    "still the empty value the stack created: put it (docs/deploy.md, once after the first deploy)")


def _drift(context: OperatorContext) -> Iterator[Check]:
    """The drift rule exists, and AWS Config records: without a recording configuration recorder the
    rule never evaluates, and drift goes unseen."""
    drift = context.deps.policy.drift
    if not drift.enabled:
        return
    aws_config = context.deps.client("config")
    names = {r["ConfigRuleName"] for r in aws_config.describe_config_rules(ConfigRuleNames=[drift.rule_name])["ConfigRules"]}
    yield Check("drift", f"rule {drift.rule_name}", "" if drift.rule_name in names else "missing")
    recording = [r["name"] for r in aws_config.describe_configuration_recorder_status()["ConfigurationRecordersStatus"]
                 if r.get("recording")]
    yield Check("drift", "configuration recorder", "" if recording else
                "AWS Config records nothing in this Region: the drift rule never runs (docs/deploy.md)")


def _spokes(context: OperatorContext) -> Iterator[Check]:
    """With an organization: the spoke StackSet's instance in every configured member account and
    watched Region is current and succeeded (automatic deployment adds them; a failed or missing one
    is an account the hub cannot see, which the coverage check would page in `quiet_minutes`)."""
    organization = context.deps.policy.organization
    if not organization.enabled:
        return
    name = spoke_stack_set_name(context.config.prefix)
    instances = {(i["Account"], i["Region"]): i for i in _all(
        context.deps.client("cloudformation"), "list_stack_instances", "Summaries", StackSetName=name,
        CallAs="DELEGATED_ADMIN")}
    for account in organization.accounts:
        for region in organization.regions:
            subject = f"{name} in {organization.where(account, region)}"
            instance = instances.get((account, region))
            detailed = ((instance or {}).get("StackInstanceStatus") or {}).get("DetailedStatus")
            if instance is None:
                yield Check("spokes", subject, "no stack instance (is the account in organization.units?)")
            elif instance.get("Status") != "CURRENT" or detailed != "SUCCEEDED":
                yield Check("spokes", subject, f"instance {instance.get('Status')} ({detailed}): "
                                               f"{instance.get('StatusReason') or 'no reason given'}")
            else:
                yield Check("spokes", subject)


def _all(client: Any, operation: str, key: str, **parameters: Any) -> list[dict[str, Any]]:
    """Every page of a List call, through botocore's paginator."""
    return [item for page in client.get_paginator(operation).paginate(**parameters) for item in page.get(key, [])]
