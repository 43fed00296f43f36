"""Real properties of the synthesized template: retry policies, DLQs, encryption, IAM scoped to
ARNs, the runbook's alarms, and a Lambda with a trigger for every function folder."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import cast

import pytest
from aws_cdk import Stack
from aws_cdk.assertions import Match, Template

from controlplane import registry
from controlplane.events import ALARM_STATE_CHANGE_PATTERN
from controlplane.policy import Policy
from opsctl.lambda_host import function_module
from paths import ROOT

FUNCTION_NAMES = sorted(p.parent.name for p in (ROOT / "functions").glob("*/handler.py"))


def resources(template, kind: str) -> dict:
    return template.find_resources(kind)


def logical_id_of_function(template, name: str, config) -> str:
    found = template.find_resources("AWS::Lambda::Function",
                                    {"Properties": {"FunctionName": f"{config.prefix}-{name.replace('_', '-')}"}})
    assert len(found) == 1, f"no Lambda for functions/{name}"
    return next(iter(found))


@pytest.mark.parametrize("name", FUNCTION_NAMES)
def test_every_function_folder_has_its_lambda_role_and_trigger(template, config, org_template, org_config,
                                                               name: str) -> None:
    if name not in registry.functions(Policy(config.policy())):  # deployed only with an organization
        template, config = org_template, org_config
    logical_id = logical_id_of_function(template, name, config)
    function = resources(template, "AWS::Lambda::Function")[logical_id]["Properties"]
    assert function["Handler"] == "handler.handler"
    assert function["Runtime"] == "python3.13" and function["Architectures"] == ["arm64"]
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert function["LoggingConfig"]["LogFormat"] == "JSON"
    assert len(function["Layers"]) == 3  # common package, compiled policy, Powertools
    assert "Fn::GetAtt" in function["Role"]
    permissions = [p["Properties"] for p in resources(template, "AWS::Lambda::Permission").values()
                   if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [logical_id, "Arn"]}]
    mappings = [m["Properties"] for m in resources(template, "AWS::Lambda::EventSourceMapping").values()
                if m["Properties"]["FunctionName"] == {"Ref": logical_id}]
    schedules = [s["Properties"] for s in resources(template, "AWS::Scheduler::Schedule").values()
                 if s["Properties"]["Target"]["Arn"] == {"Fn::GetAtt": [logical_id, "Arn"]}]
    assert permissions or mappings or schedules, f"functions/{name} has no trigger"


def test_triage_environment_names_its_resources(template, config) -> None:
    logical_id = logical_id_of_function(template, "triage", config)
    environment = resources(template, "AWS::Lambda::Function")[logical_id]["Properties"]["Environment"]["Variables"]
    assert set(environment) >= {"LEDGER_TABLE", "OPS_BUS_NAME", "REJECTS_QUEUE_URL", "POLICY_PATH", "CONFIG_VERSION",
                                "NOTIFY_TOPIC_P0", "NOTIFY_TOPIC_P1", "NOTIFY_TOPIC_P2", "NOTIFY_TOPIC_P3",
                                "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"}
    assert environment["CONFIG_VERSION"] == config.version
    assert environment["POLICY_PATH"] == "/opt/policy/policy.json"


def test_async_invocations_retry_age_out_and_dead_letter(template) -> None:
    template.has_resource_properties("AWS::Lambda::EventInvokeConfig", {
        "MaximumRetryAttempts": 2,
        "MaximumEventAgeInSeconds": 3600,
        "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [Match.string_like_regexp("TriageDeadLetters"), "Arn"]}}},
    })


def test_alarm_rule_uses_the_shared_pattern_with_retries_and_dlq(template) -> None:
    rules = template.find_resources("AWS::Events::Rule", {"Properties": {"EventPattern": ALARM_STATE_CHANGE_PATTERN}})
    assert len(rules) == 1
    [target] = next(iter(rules.values()))["Properties"]["Targets"]
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 185}
    assert target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0].startswith("TriageDeadLetters")


def test_sns_intake_and_email_subscriptions_have_redrive_policies(template) -> None:
    subscriptions = [s["Properties"] for s in resources(template, "AWS::SNS::Subscription").values()]
    assert {s["Protocol"] for s in subscriptions} == {"lambda", "email"}
    assert all("RedrivePolicy" in s for s in subscriptions)
    assert sorted(s["Endpoint"] for s in subscriptions if s["Protocol"] == "email") == sorted(
        ["devops@financeanalyst.pro", "security@financeanalyst.pro", "devops@financeanalyst.pro",
         "pm@financeanalyst.pro", "devops@financeanalyst.pro"])


def test_dead_letter_queues_are_alarmed_and_page_directly(template, config) -> None:
    for queue in ("triage-dlq", "notify-dlq"):
        template.has_resource_properties("AWS::SQS::Queue", {
            "QueueName": f"{config.prefix}-{queue}", "SqsManagedSseEnabled": True, "MessageRetentionPeriod": 1209600})
        template.has_resource_properties("AWS::CloudWatch::Alarm", {
            "AlarmName": f"{config.prefix}-{queue}-not-empty",
            "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold",
            "AlarmActions": [{"Ref": Match.string_like_regexp("NotificationsP1")}],
        })


def test_each_band_is_an_alarm_of_its_own_at_the_band_threshold(template, config) -> None:
    """error-rate's P1 band (above 10 %) and storage's (above 90 %): the same metric as their alarm."""
    for key, threshold in (("error-rate", 10), ("storage", 90)):
        spec = config.alarm(key)
        template.has_resource_properties("AWS::CloudWatch::Alarm", {
            "AlarmName": f"{spec.name}-p1", "Threshold": threshold, "ComparisonOperator": "GreaterThanThreshold",
            **_watched(spec), "EvaluationPeriods": spec.evaluation_periods,
            "AlarmDescription": Match.string_like_regexp("severity=P1"),
        })


def _watched(spec) -> dict:
    if spec.expression is None:
        return {"MetricName": spec.metric_name, "Namespace": spec.namespace}
    return {"Metrics": Match.array_with([Match.object_like({"Expression": spec.expression, "ReturnData": True})])}


def test_storage_watches_what_rds_publishes_as_a_share_of_the_allocation(template, config) -> None:
    """No alarm watches a metric nothing publishes: storage used is RDS's FreeStorageSpace (bytes) over
    the configured allocation, a metric-math alarm whose input is not returned on its own."""
    alarm = next(props for props in (r["Properties"] for r in resources(template, "AWS::CloudWatch::Alarm").values())
                 if props["AlarmName"] == config.alarm("storage").name)
    assert "MetricName" not in alarm and "Namespace" not in alarm
    formula, free = sorted(alarm["Metrics"], key=lambda m: "MetricStat" in m)
    assert (formula["Expression"], formula["Label"], formula["ReturnData"]) == (
        "100 * (1 - free / 107374182400)", "StorageUsedPercent", True)
    assert free == {"Id": "free", "ReturnData": False, "MetricStat": {
        "Metric": {"Namespace": "AWS/RDS", "MetricName": "FreeStorageSpace",
                   "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": "financeanalyst-pro-demo-db"}]},
        "Period": 300, "Stat": "Minimum"}}


def test_ledger_is_encrypted_recoverable_and_protected(template) -> None:
    template.has_resource_properties("AWS::DynamoDB::GlobalTable", {
        "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS"},
        "Replicas": [Match.object_like({
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "DeletionProtectionEnabled": True,
            "SSESpecification": {"KMSMasterKeyId": Match.any_value()},
        })],
    })


def test_topics_are_kms_encrypted_and_tls_only(template) -> None:
    topics = resources(template, "AWS::SNS::Topic")
    assert len(topics) == 5  # four severities + intake
    assert all("KmsMasterKeyId" in t["Properties"] for t in topics.values())
    policies = resources(template, "AWS::SNS::TopicPolicy").values()
    denied = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]
              if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}]
    assert len(denied) == 5
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_ops_bus_is_archived(template, config) -> None:
    template.has_resource_properties("AWS::Events::EventBus", {"Name": f"{config.prefix}-ops"})
    template.has_resource_properties("AWS::Events::Archive", {
        "EventPattern": {"source": ["ops.control-plane"]}, "RetentionDays": 365})


def _statements(template, role_prefix: str = "") -> list[dict]:
    return [s for p in resources(template, "AWS::IAM::Policy").values()
            if any(r["Ref"].startswith(role_prefix) for r in p["Properties"]["Roles"])
            for s in p["Properties"]["PolicyDocument"]["Statement"]]


def test_iam_is_scoped_to_resource_arns(template) -> None:
    for statement in _statements(template):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not any(a.endswith("*") for a in actions), statement  # no wildcard actions
        if statement["Resource"] == "*":
            # Only actions AWS offers no resource scope for.
            assert set(actions) <= {"xray:PutTraceSegments", "xray:PutTelemetryRecords",
                                    "cloudwatch:GetMetricStatistics", "cloudwatch:GetMetricData", "tag:GetResources",
                                    "logs:GetQueryResults", "logs:StopQuery",
                                    "backup:ListRecoveryPointsByResource", "backup:ListBackupPlans",
                                    "backup:DescribeRestoreJob", "backup:PutRestoreValidationResult"}, statement


def test_triage_can_do_exactly_its_ledger_operations(template) -> None:
    dynamodb = [s for s in _statements(template, "TriageHandlerRole")
                if any(str(a).startswith("dynamodb:") for a in s["Action"])]
    assert len(dynamodb) == 1
    assert sorted(dynamodb[0]["Action"]) == ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem",
                                             "dynamodb:Query", "dynamodb:UpdateItem"]
    assert dynamodb[0]["Resource"]["Fn::GetAtt"][1] == "Arn"


def test_alarms_of_this_account_only_may_invoke_triage_as_their_action(template, config) -> None:
    triage = logical_id_of_function(template, "triage", config)
    [permission] = [p["Properties"] for p in resources(template, "AWS::Lambda::Permission").values()
                    if p["Properties"]["Principal"] == "lambda.alarms.cloudwatch.amazonaws.com"]
    assert permission["FunctionName"] == {"Fn::GetAtt": [triage, "Arn"]}
    assert permission["Action"] == "lambda:InvokeFunction"
    assert permission["SourceAccount"] == config.account
    assert permission["SourceArn"] == f"arn:aws:cloudwatch:{config.region}:{config.account}:alarm:*"


@pytest.mark.parametrize(("key", "severity", "threshold", "operator"), [
    ("response-time", "P2", 2000, "GreaterThanThreshold"),
    ("error-rate", "P2", 5, "GreaterThanThreshold"),
    ("availability", "P1", 99.9, "LessThanThreshold"),
    ("traffic-spike", "P1", 200000, "GreaterThanThreshold"),
    ("storage", "P2", 80, "GreaterThanThreshold"),
    ("health", "P0", 50, "LessThanThreshold"),
])
def test_runbook_alarms(template, config, key: str, severity: str, threshold: float, operator: str) -> None:
    template.has_resource_properties("AWS::CloudWatch::Alarm", {
        "AlarmName": f"{config.prefix}-{key}",
        "AlarmDescription": Match.string_like_regexp(rf"\[ops: severity={severity} remediation="),
        "Threshold": threshold,
        "ComparisonOperator": operator,
    })


def test_dashboard_exists(template, config) -> None:
    template.has_resource_properties("AWS::CloudWatch::Dashboard", {"DashboardName": f"{config.prefix}-control-plane"})


def test_the_dashboard_shows_where_incidents_open_and_backups_fail(template) -> None:
    """Two Logs Insights tables, over triage's and backup verification's own log groups, grouped by
    fields those functions log (their outcome's and their sent finding's)."""
    [dashboard] = template.find_resources("AWS::CloudWatch::Dashboard").values()
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    body = json.loads("".join(p if isinstance(p, str) else json.dumps(p).replace('"', "'") for p in parts))
    queries = {w["properties"]["title"]: w["properties"]["query"] for w in body["widgets"] if w["type"] == "log"}
    triage_logs, backup_logs = (next(k for k in template.find_resources("AWS::Logs::LogGroup") if k.startswith(name))
                                for name in ("TriageHandlerLogs", "BackupsHandlerLogs"))
    incidents = queries["Where: incidents opened, by account and Region"]
    assert f"SOURCE '{{'Ref': '{triage_logs}'}}'" in incidents
    assert 'filter message = "triage outcome" and result in ["opened", "reopened"]' in incidents
    assert "stats count(*) as incidents by account, region" in incidents
    findings = queries["Where: backup findings sent, by account and Region"]
    assert f"SOURCE '{{'Ref': '{backup_logs}'}}'" in findings
    assert "stats count(*) as findings by account, region, check, state" in findings
    # The fields grouped by are what the functions log: the outcome's and the finding's own.
    outcome = function_module("triage", "triage_service").TriageOutcome(result="opened", reason="")
    assert {"result", "account", "region"} <= set(outcome.as_dict())
    finding = function_module("backup_verify", "findings").Finding("job", "arn", "ALARM", "why", "now")
    assert {"account", "region", "check", "state"} <= set(finding.__dict__)


def test_cfn_lint_reports_no_error(template_path: Path, cfn_lint) -> None:
    cfn_lint(template_path)


def test_an_unacknowledged_nag_finding_fails_synth(config, tmp_path) -> None:
    """Proves cdk-nag is really enforcing: one unencrypted, non-TLS queue makes synth fail."""
    from aws_cdk import aws_sqs as sqs

    from app import build_app

    app = build_app(config, outdir=str(tmp_path))
    stack = cast(Stack, app.node.children[0])
    sqs.Queue(stack, "Careless", encryption=sqs.QueueEncryption.UNENCRYPTED)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads(next(tmp_path.rglob("validation-report.json")).read_text())
    assert "AwsSolutions-SQS4" in json.dumps(report)


def test_waf_web_acl_has_the_rate_rule_in_count(template, config) -> None:
    [acl] = resources(template, "AWS::WAFv2::WebACL").values()
    properties = acl["Properties"]
    assert properties["Scope"] == "CLOUDFRONT" and properties["Name"] == config.waf["web_acl_name"]
    rate = next(r for r in properties["Rules"] if r["Name"] == config.waf["rule_name"])
    assert rate["Action"] == {"Count": {}}
    assert rate["Statement"]["RateBasedStatement"] == {"Limit": 2000, "EvaluationWindowSec": 300,
                                                       "AggregateKeyType": "IP"}


def test_waf_toggle_can_touch_only_its_web_acl_and_schedules_and_read_its_alarm(template, config) -> None:
    statements = _statements(template, "WafHandlerRole")
    by_action = {a: s["Resource"] for s in statements for a in (s["Action"] if isinstance(s["Action"], list)
                                                                 else [s["Action"]])}
    web_acl, attribute = by_action["wafv2:UpdateWebACL"]["Fn::GetAtt"]
    assert web_acl.startswith("WafWebAcl") and attribute == "Arn"
    assert "financeanalyst-pro-demo-checks/*" in json.dumps(by_action["scheduler:CreateSchedule"])
    assert "alarm:financeanalyst-pro-demo-traffic-spike" in json.dumps(by_action["cloudwatch:DescribeAlarms"])
    assert "cloudwatch:PutMetricAlarm" not in by_action and "cloudwatch:GetMetricStatistics" not in by_action
    # Decision records are transactions that also delete the side-effect markers of an undone block.
    assert {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"} <= set(by_action)
    logical_id = logical_id_of_function(template, "waf_toggle", config)
    function = resources(template, "AWS::Lambda::Function")[logical_id]["Properties"]
    assert function["ReservedConcurrentExecutions"] == 1


def test_the_baseline_job_may_retune_exactly_the_alarms_that_follow_their_history(template) -> None:
    [retune] = [s for s in _statements(template, "ReportingHandlerRole") if "cloudwatch:PutMetricAlarm" in s["Action"]]
    assert sorted(retune["Action"]) == ["cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm"]
    names = sorted(json.dumps(arn).split(":alarm:")[1].rstrip('"]') for arn in retune["Resource"])
    assert names == ["financeanalyst-pro-demo-performance-degradation", "financeanalyst-pro-demo-traffic-spike"]


def test_waf_toggle_rules_use_the_shared_patterns(template, config) -> None:
    from controlplane.events import stack_status_pattern, waf_pattern

    on_incident = waf_pattern(Policy(config.policy()).waf)
    assert on_incident["detail"]["alarm_arn"] == [config.alarm_arn(config.alarm("traffic-spike").name)]
    on_deploy = stack_status_pattern(f"{config.prefix}-control-plane")
    for pattern in (on_incident, on_deploy):
        rules = template.find_resources("AWS::Events::Rule", {"Properties": {"EventPattern": pattern}})
        assert len(rules) == 1, pattern
        [target] = next(iter(rules.values()))["Properties"]["Targets"]
        assert target["RetryPolicy"]["MaximumRetryAttempts"] == 185 and "DeadLetterConfig" in target


def test_hourly_baseline_schedule_retries_and_dead_letters(template, config) -> None:
    template.has_resource_properties("AWS::Scheduler::Schedule", {
        "Name": f"{config.prefix}-alarm-baselines",
        "ScheduleExpression": "cron(5 * * * ? *)",
        "Target": Match.object_like({"Input": '{"task": "compute-baselines"}',
                                     "RetryPolicy": {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 3},
                                     "DeadLetterConfig": Match.any_value()}),
    })


def test_outbox_relay_reads_only_new_outbox_items_with_retries_and_a_dlq(template) -> None:
    from controlplane.events import OUTBOX_STREAM_FILTER

    template.has_resource_properties("AWS::Lambda::EventSourceMapping", {
        "BisectBatchOnFunctionError": True,
        "MaximumRetryAttempts": 10,
        "MaximumRecordAgeInSeconds": 3600,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "StartingPosition": "TRIM_HORIZON",
        "FilterCriteria": {"Filters": [{"Pattern": json.dumps(OUTBOX_STREAM_FILTER, separators=(",", ":"))}]},
        "DestinationConfig": {"OnFailure": {"Destination": {
            "Fn::GetAtt": [Match.string_like_regexp("OutboxRelayDeadLetters"), "Arn"]}}},
    })
    template.has_resource_properties("AWS::DynamoDB::GlobalTable", {
        "StreamSpecification": {"StreamViewType": "NEW_IMAGE"}})


def test_triage_no_longer_publishes_itself(template) -> None:
    """Triage writes the outbox; only the relay may put events and publish pages."""
    triage_actions = {a for s in _statements(template, "TriageHandlerRole")
                      for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert not triage_actions & {"events:PutEvents", "sns:Publish"}
    relay_actions = {a for s in _statements(template, "OutboxRelayHandlerRole")
                     for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert {"events:PutEvents", "sns:Publish"} <= relay_actions


def test_rollback_may_touch_only_its_configured_targets(template, config) -> None:
    statements = _statements(template, "RollbackHandlerRole")
    by_action = {a: json.dumps(s["Resource"]) for s in statements
                 for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert "function:financeanalyst-pro-demo-api" in by_action["lambda:UpdateAlias"]
    assert "distribution/E2DEMO0EXAMPLE" in by_action["cloudfront:UpdateDistribution"]
    assert "distribution/E2DEMO0EXAMPLE" in by_action["cloudfront:CreateInvalidation"]
    logical_id = logical_id_of_function(template, "rollback", config)
    function = resources(template, "AWS::Lambda::Function")[logical_id]["Properties"]
    assert function["ReservedConcurrentExecutions"] == 1


def test_rollback_rules_use_the_shared_patterns(template, config) -> None:
    from controlplane.events import DEPLOYMENT_PATTERN, rollback_pattern

    on_incident = rollback_pattern(Policy(config.policy()).rollback)
    assert on_incident["detail"]["alarm_arn"] == sorted(
        config.alarm_arn(a) for t in config.rollback["targets"].values() for a in t["alarms"])
    for pattern in (on_incident, DEPLOYMENT_PATTERN):
        rules = template.find_resources("AWS::Events::Rule", {"Properties": {"EventPattern": pattern}})
        assert len(rules) == 1, pattern
        [target] = next(iter(rules.values()))["Properties"]["Targets"]
        assert "DeadLetterConfig" in target and target["RetryPolicy"]["MaximumRetryAttempts"] == 185


def test_each_function_has_a_scheduler_role_that_invokes_it_alone(template, config) -> None:
    """No function can schedule another: the only scheduler role it may pass invokes itself."""
    scheduled = ("triage", "waf_toggle", "rollback", "calendar", "escalation", "reporting", "backup_verify", "drill")
    roles = {name: r for name, r in resources(template, "AWS::IAM::Role").items()
             if r["Properties"].get("RoleName", "").endswith("-scheduler")}
    assert sorted(r["Properties"]["RoleName"] for r in roles.values()) == sorted(
        f"{config.prefix}-{f.replace('_', '-')}-scheduler" for f in scheduled)
    for logical_id, role in roles.items():
        function = role["Properties"]["RoleName"].removesuffix("-scheduler")
        invokes = [s for s in _statements(template, logical_id) if s["Action"] == "lambda:InvokeFunction"]
        assert json.dumps([s["Resource"] for s in invokes]).count(":function:") == 1
        assert f":function:{function}\"" in json.dumps(invokes)
    passes = [s for s in _statements(template) if s["Action"] == "iam:PassRole"]
    # Five functions schedule follow-ups of their own (triage: a flapping incident's settled resolution);
    # the verifier passes AWS Backup its restore role.
    assert len(passes) == 5 + 1
    assert all(set(s["Condition"]["StringEquals"]) == {"iam:PassedToService"} for s in passes)


def test_an_existing_web_acl_is_used_not_created(config, tmp_path) -> None:
    import dataclasses

    from aws_cdk.assertions import Template

    from app import build_app

    existing = dataclasses.replace(config, waf=config.waf | {"existing_web_acl_id": "0a1b2c3d-4e5f-6789-abcd-ef0123456789"})
    app = build_app(existing, outdir=str(tmp_path))
    template = Template.from_stack(cast(Stack, app.node.children[0]))
    assert template.find_resources("AWS::WAFv2::WebACL") == {}
    statements = _statements(template, "WafHandlerRole")
    [waf] = [s for s in statements if "wafv2:UpdateWebACL" in s["Action"]]
    assert "global/webacl/financeanalyst-pro-demo-edge/0a1b2c3d-4e5f-6789-abcd-ef0123456789" in json.dumps(waf["Resource"])
    logical_id = logical_id_of_function(template, "waf_toggle", config)
    variables = resources(template, "AWS::Lambda::Function")[logical_id]["Properties"]["Environment"]["Variables"]
    assert variables["WEB_ACL_ID"] == "0a1b2c3d-4e5f-6789-abcd-ef0123456789"


def test_the_production_example_synthesizes_through_cdk_nag(tmp_path) -> None:
    from app import build_app
    from controlplane.config import load_config

    production = load_config(ROOT / "config" / "production.example.yaml")
    assembly = build_app(production, outdir=str(tmp_path)).synth()  # raises on any unacknowledged finding
    [stack] = assembly.stacks
    assert stack.stack_name == "financeanalyst-pro-production-control-plane"
    assert "financeanalyst-pro-production-ledger" in json.dumps(stack.template)
    # Its channels: SMS to the P0 phone; one Slack channel configuration, on the P0–P2 topics, whose
    # role may do nothing and whose guardrail denies everything (the channel shows pages, runs nothing).
    template = Template.from_json(stack.template)
    template.has_resource_properties("AWS::SNS::Subscription", {
        "Protocol": "sms", "Endpoint": "+15550100123", "TopicArn": {"Ref": Match.string_like_regexp("NotificationsP0")}})
    [slack] = resources(template, "AWS::Chatbot::SlackChannelConfiguration").values()
    properties = slack["Properties"]
    assert (properties["SlackWorkspaceId"], properties["SlackChannelId"]) == ("T0123ABCDE", "C0PRODALRT")
    assert sorted(topic["Ref"][:len("NotificationsP0")] for topic in properties["SnsTopicArns"]) == [
        "NotificationsP0", "NotificationsP1", "NotificationsP2"]
    [guardrail] = [r["Properties"] for r in resources(template, "AWS::IAM::ManagedPolicy").values()
                   if r["Properties"].get("Description") == "Nothing may be run from the chat channels"]
    assert guardrail["PolicyDocument"]["Statement"] == [{"Effect": "Deny", "Action": "*", "Resource": "*"}]
    [role] = [r for r in resources(template, "AWS::IAM::Role").values()
              if "chatbot.amazonaws.com" in json.dumps(r["Properties"]["AssumeRolePolicyDocument"])]
    assert "Policies" not in role["Properties"] and "ManagedPolicyArns" not in role["Properties"]


# The runbook's calendar: Daily Operations, Weekly and Monthly Maintenance (New York time).
RUNBOOK_CALENDAR = {
    "morning-checklist": "cron(0 9 * * ? *)",
    "end-of-day": "cron(0 18 * * ? *)",
    "weekly-health-check": "cron(0 9 ? * MON *)",
    "database-maintenance": "cron(0 14 ? * WED *)",
    "security-update": "cron(0 9 ? * MON#1 *)",
    "performance-review": "cron(0 9 ? * MON#3 *)",
}


@pytest.mark.parametrize(("task", "expression"), sorted(RUNBOOK_CALENDAR.items()))
def test_runbook_calendar_schedules(template, config, task: str, expression: str) -> None:
    calendar_function = logical_id_of_function(template, "calendar", config)
    found = template.find_resources("AWS::Scheduler::Schedule", {"Properties": {"Name": f"{config.prefix}-{task}"}})
    [schedule] = [r["Properties"] for r in found.values()]
    assert schedule["ScheduleExpression"] == expression
    assert schedule["ScheduleExpressionTimezone"] == "America/New_York"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    assert target["Arn"] == {"Fn::GetAtt": [calendar_function, "Arn"]}
    assert json.loads(target["Input"]) == {"task": task, "at": "<aws.scheduler.scheduled-time>"}
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 10}
    assert target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0].startswith("CalendarDeadLetters")


def test_database_window_mutes_the_storage_alarm_on_its_schedule(template) -> None:
    [rule] = [r["Properties"] for r in resources(template, "AWS::CloudWatch::AlarmMuteRule").values()]
    assert rule["Rule"]["Schedule"] == {"Duration": "PT2H", "Expression": "cron(0 14 * * WED)",
                                        "Timezone": "America/New_York"}
    # The storage alarm and its P1 band's alarm: the same component.
    storage, band = sorted(alarm["Ref"] for alarm in rule["MuteTargets"]["AlarmNames"])
    assert storage.startswith("ApplicationAlarmsstorage") and not storage.startswith("ApplicationAlarmsstoragep1")
    assert band.startswith("ApplicationAlarmsstoragep1")


def test_window_end_reaches_triage_which_may_list_alarms(template, config) -> None:
    from controlplane.events import MAINTENANCE_ENDED_PATTERN

    rules = template.find_resources("AWS::Events::Rule", {"Properties": {"EventPattern": MAINTENANCE_ENDED_PATTERN}})
    [target] = next(iter(rules.values()))["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [logical_id_of_function(template, "triage", config), "Arn"]}
    assert "DeadLetterConfig" in target and target["RetryPolicy"]["MaximumRetryAttempts"] == 185
    describe = [s for s in _statements(template, "TriageHandlerRole") if s["Action"] == "cloudwatch:DescribeAlarms"]
    assert len(describe) == 1 and ":alarm:*" in json.dumps(describe[0]["Resource"])


def test_one_time_follow_ups_dead_letter(template, config) -> None:
    environment = resources(template, "AWS::Lambda::Function")[
        logical_id_of_function(template, "calendar", config)]["Properties"]["Environment"]["Variables"]
    assert environment["SCHEDULE_DLQ_ARN"]["Fn::GetAtt"][0].startswith("FollowUpsDeadLetters")
    assert environment["SCHEDULE_GROUP"] == f"{config.prefix}-checks"


def test_the_calendar_may_list_the_ledger_index_and_only_it_of_the_functions(template) -> None:
    def index_queries(role: str) -> list[dict]:
        return [s for s in _statements(template, role) if s["Action"] == "dynamodb:Query"
                and "/index/gsi1" in json.dumps(s["Resource"])]

    assert len(index_queries("CalendarHandlerRole")) == 1
    assert index_queries("TriageHandlerRole") == [] and index_queries("WafHandlerRole") == []


def test_status_page_is_a_private_bucket_behind_cloudfront_with_oac_and_the_web_acl(template) -> None:
    [distribution] = [r["Properties"]["DistributionConfig"] for r in resources(template, "AWS::CloudFront::Distribution").values()]
    assert distribution["DefaultRootObject"] == "index.html"
    assert distribution["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    [origin] = distribution["Origins"]
    assert "OriginAccessControlId" in origin and origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    assert distribution["WebACLId"]["Fn::GetAtt"][0].startswith("WafWebAcl")
    assert distribution["Logging"]["Bucket"]["Fn::GetAtt"][0].startswith("ReportingCdnLogs")
    [oac] = [r["Properties"]["OriginAccessControlConfig"]
             for r in resources(template, "AWS::CloudFront::OriginAccessControl").values()]
    assert (oac["OriginAccessControlOriginType"], oac["SigningBehavior"]) == ("s3", "always")
    for logical_id, bucket in resources(template, "AWS::S3::Bucket").items():
        block = bucket["Properties"]["PublicAccessBlockConfiguration"]
        flags = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
        assert all(block[k] for k in flags), logical_id
    policies = json.dumps([p["Properties"] for p in resources(template, "AWS::S3::BucketPolicy").values()])
    assert "cloudfront.amazonaws.com" in policies and "AWS:SourceArn" in policies


def test_reporting_writes_only_its_objects(template) -> None:
    statements = [s for s in _statements(template, "ReportingHandlerRole") if str(s["Action"]).startswith("s3:")]
    actions = {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert actions == {"s3:GetObject", "s3:PutObject"}  # statements may be merged (@aws-cdk/aws-iam:minimizePolicies)
    resources_ = json.dumps([s["Resource"] for s in statements])
    assert "/status.json" in resources_ and "/index.html" in resources_ and "/reports/*" in resources_
    assert "/incidents/*" in resources_


@pytest.mark.parametrize(("name", "expression"), [
    ("status-page", "cron(* * * * ? *)"), ("daily-report", "cron(0 7 * * ? *)"),
    ("weekly-report", "cron(0 7 ? * MON *)"), ("monthly-report", "cron(0 7 1 * ? *)")])
def test_reporting_schedules(template, config, name: str, expression: str) -> None:
    found = template.find_resources("AWS::Scheduler::Schedule", {"Properties": {"Name": f"{config.prefix}-{name}"}})
    [schedule] = [r["Properties"] for r in found.values()]
    assert schedule["ScheduleExpression"] == expression and schedule["ScheduleExpressionTimezone"] == "America/New_York"
    assert schedule["Target"]["Arn"] == {"Fn::GetAtt": [logical_id_of_function(template, "reporting", config), "Arn"]}
    assert "DeadLetterConfig" in schedule["Target"] and schedule["Target"]["RetryPolicy"]["MaximumRetryAttempts"] == 3


def test_every_incident_opened_reaches_escalation_and_status_changes_reach_reporting(template, config) -> None:
    from controlplane.events import INCIDENT_OPENED_PATTERN, STATUS_PAGE_PATTERN

    for pattern, function in ((INCIDENT_OPENED_PATTERN, "escalation"), (STATUS_PAGE_PATTERN, "reporting")):
        [rule] = [r for r in resources(template, "AWS::Events::Rule").values() if r["Properties"]["EventPattern"] == pattern]
        [target] = rule["Properties"]["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [logical_id_of_function(template, function, config), "Arn"]}
        assert "DeadLetterConfig" in target and target["RetryPolicy"]["MaximumRetryAttempts"] == 185


def test_backup_plan_follows_the_runbook_table(template, config) -> None:
    [plan] = [r["Properties"]["BackupPlan"] for r in resources(template, "AWS::Backup::BackupPlan").values()]
    rules = {r["RuleName"]: r for r in plan["BackupPlanRule"]}
    assert rules["full"]["ScheduleExpression"] == "cron(0 2 * * ? *)"  # Full System: daily 2:00 AM
    assert rules["full"]["Lifecycle"] == {"DeleteAfterDays": 30}
    assert rules["database"]["ScheduleExpression"] == "cron(0 0/6 * * ? *)"  # Database: every 6 hours
    assert rules["database"]["Lifecycle"] == {"DeleteAfterDays": 7}
    assert rules["database"]["EnableContinuousBackup"] is True
    assert {r["ScheduleExpressionTimezone"] for r in rules.values()} == {"America/New_York"}
    assert all("Fn::GetAtt" in json.dumps(r["TargetBackupVault"]) for r in rules.values())
    [vault] = [r["Properties"] for r in resources(template, "AWS::Backup::BackupVault").values()]
    assert vault["BackupVaultName"] == config.backup["vault_name"] and "EncryptionKeyArn" in vault
    selections = [r["Properties"]["BackupSelection"] for r in resources(template, "AWS::Backup::BackupSelection").values()]
    assert sorted(t["ConditionValue"] for s in selections for t in s["ListOfTags"]) == ["database", "full"]
    assert {t["ConditionKey"] for s in selections for t in s["ListOfTags"]} == {"backup-class"}


def test_configuration_versions_are_kept_90_days_and_restores_are_tested(template, config) -> None:
    [bucket] = [r["Properties"] for r in resources(template, "AWS::S3::Bucket").values()
                if r["Properties"].get("BucketName") == config.backup["configuration"]["bucket"]]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    [rule] = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 90} and rule["Status"] == "Enabled"
    [plan] = [r["Properties"] for r in resources(template, "AWS::Backup::RestoreTestingPlan").values()]
    assert plan["ScheduleExpression"] == "cron(0 4 ? * SUN *)" and plan["ScheduleExpressionTimezone"] == "America/New_York"
    selections = [r["Properties"] for r in resources(template, "AWS::Backup::RestoreTestingSelection").values()]
    chosen = sorted((s["ProtectedResourceType"], c["Value"]) for s in selections
                    for c in s["ProtectedResourceConditions"]["StringEquals"])
    assert chosen == [(kind, name) for kind in ("DynamoDB", "RDS", "S3") for name in ("database", "full")]
    assert all(len(s["ProtectedResourceConditions"]["StringEquals"]) == 1 for s in selections)


def test_backup_events_and_the_hourly_check_reach_the_verifier(template, config) -> None:
    from controlplane.events import BACKUP_JOB_PATTERN, findings_pattern

    verifier = logical_id_of_function(template, "backup_verify", config)
    for pattern, function in ((BACKUP_JOB_PATTERN, verifier), (findings_pattern(False), None)):
        [rule] = [r for r in resources(template, "AWS::Events::Rule").values() if r["Properties"]["EventPattern"] == pattern]
        [target] = rule["Properties"]["Targets"]
        if function:
            assert target["Arn"] == {"Fn::GetAtt": [function, "Arn"]}
        assert "DeadLetterConfig" in target and target["RetryPolicy"]["MaximumRetryAttempts"] == 185
    for name, expression in (("backup-verify", "cron(15 * * * ? *)"), ("restore-tests", "cron(30 3 * * ? *)")):
        found = template.find_resources("AWS::Scheduler::Schedule", {"Properties": {"Name": f"{config.prefix}-{name}"}})
        [schedule] = [r["Properties"] for r in found.values()]
        assert schedule["ScheduleExpression"] == expression and "DeadLetterConfig" in schedule["Target"]
        assert schedule["Target"]["Arn"] == {"Fn::GetAtt": [verifier, "Arn"]}


def test_the_verifier_deletes_only_restore_test_copies(template) -> None:
    deletes = [s for s in _statements(template, "BackupsHandlerRole")
               if any(a in json.dumps(s["Action"]) for a in ("DeleteBucket", "DeleteTable", "DeleteDBInstance"))]
    resources_ = [r for s in deletes for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])]
    assert resources_ and all("-restore-test-" in json.dumps(r) for r in resources_)


def test_the_intake_topic_hears_only_the_accepted_accounts_alarms_and_rules(template, config) -> None:
    [policy] = [p["Properties"]["PolicyDocument"] for p in resources(template, "AWS::SNS::TopicPolicy").values()
                if "alarm-intake" in json.dumps(p["Properties"]["Topics"]) or "Intake" in json.dumps(p["Properties"]["Topics"])]
    publishes = [s for s in policy["Statement"] if s["Action"] == "sns:Publish" and s["Effect"] == "Allow"]
    assert {s["Principal"]["Service"] for s in publishes} == {"cloudwatch.amazonaws.com", "events.amazonaws.com"}
    for statement in publishes:  # no confused deputy: CloudWatch acting for any account
        assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == [config.account]
        assert all(f":{config.account}:" in arn for arn in statement["Condition"]["ArnLike"]["aws:SourceArn"])


def test_only_our_functions_and_the_deployers_may_put_on_the_ops_bus(config, tmp_path) -> None:
    """A "Deployment Completed" (or a forged "Incident Opened") from anyone else never reaches a rule."""
    import dataclasses

    from aws_cdk.assertions import Template

    from app import build_app

    deployer = f"arn:aws:iam::{config.account}:role/release-pipeline"
    build_app(dataclasses.replace(config, deployers=(deployer,)), outdir=str(tmp_path)).synth()
    body = json.loads((tmp_path / f"{config.prefix}-control-plane.template.json").read_text())
    [bus] = Template.from_json(body).find_resources("AWS::Events::EventBus").values()
    statements = {s["Sid"]: s for s in bus["Properties"]["Policy"]["Statement"]}
    everyone_else = statements["OnlyOurFunctionsAndDeployers"]
    assert everyone_else["Effect"] == "Deny" and everyone_else["Principal"] == {"AWS": "*"}
    allowed = json.dumps(everyone_else["Condition"]["ArnNotEquals"]["aws:PrincipalArn"])
    assert deployer in allowed and "OutboxRelayHandlerRole" in allowed and "BackupsHandlerRole" in allowed
    confined = [s for sid, s in statements.items() if sid.startswith("OnlyItsDetailTypes")]
    [deployers_only] = [s for s in confined if s["Condition"]["ArnEquals"]["aws:PrincipalArn"] == deployer]
    assert deployers_only["Condition"]["StringNotEquals"]["events:detail-type"] == ["Deployment Completed"]
    assert len(confined) == 3  # the relay, the backup verifier, the deployer


def test_no_destructive_action_on_an_account_wide_wildcard(template) -> None:
    """Everything the verifier may delete or restore is ours: copies named as our restore tests name
    them, and recovery points carrying the tag our plan puts on its points (their ARNs name no vault)."""
    for statement in _statements(template, "BackupsHandlerRole"):
        listed = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if any(a.split(":")[1].startswith(("Delete", "StartRestore")) for a in listed):
            confined = "financeanalyst-pro-demo-restore-test-*" in json.dumps(statement["Resource"]) or \
                statement.get("Condition") == {"StringEquals": {"aws:ResourceTag/ops-control-plane": "financeanalyst-pro-demo"}}
            assert confined, statement
    plan = next(iter(resources(template, "AWS::Backup::BackupPlan").values()))["Properties"]["BackupPlan"]
    assert all(rule["RecoveryPointTags"] == {"ops-control-plane": "financeanalyst-pro-demo"}
               for rule in plan["BackupPlanRule"])


def test_pagerduty_keys_live_in_secrets_the_template_leaves_empty(template, config) -> None:
    secrets = {r["Properties"]["Name"]: json.loads(r["Properties"]["SecretString"])
               for r in resources(template, "AWS::SecretsManager::Secret").values()}
    assert secrets == {f"{config.prefix}/pagerduty/financeanalyst-emergency": {"routing_key": ""},
                       f"{config.prefix}/pagerduty/webhook-signing": {"signing_secrets": []}}
    assert all(r["DeletionPolicy"] == "Retain" for r in resources(template, "AWS::SecretsManager::Secret").values())
    # Each function may read its own secret, and nothing else of Secrets Manager.
    for role, secret in (("PagerDutyHandlerRole", "PagerDutyRoutingKey"),
                         ("PagerDutyWebhookHandlerRole", "PagerDutyWebhookSigning")):
        [read] = [s for s in _statements(template, role) if "secretsmanager" in json.dumps(s["Action"])]
        assert read["Action"] == "secretsmanager:GetSecretValue" and read["Resource"]["Ref"].startswith(secret)
    others = [s for s in _statements(template) if "secretsmanager" in json.dumps(s["Action"])]
    assert len(others) == 2


def test_pagerduty_sends_one_at_a_time_and_its_webhook_is_a_capped_public_url(template, config) -> None:
    functions = resources(template, "AWS::Lambda::Function")
    sender = functions[logical_id_of_function(template, "pagerduty", config)]["Properties"]
    assert sender["ReservedConcurrentExecutions"] == 1
    assert sender["Environment"]["Variables"]["PAGERDUTY_EVENTS_URL"] == "https://events.pagerduty.com/v2/enqueue"
    receiver_id = logical_id_of_function(template, "pagerduty_webhook", config)
    assert functions[receiver_id]["Properties"]["ReservedConcurrentExecutions"] == 2
    [url] = resources(template, "AWS::Lambda::Url").values()
    # PagerDuty cannot sign with SigV4: every request proves itself with its HMAC signature instead.
    assert url["Properties"] == {"AuthType": "NONE", "TargetFunctionArn": {"Fn::GetAtt": [receiver_id, "Arn"]}}
    [rule] = [r["Properties"] for r in resources(template, "AWS::Events::Rule").values()
              if "PagerDuty" in r["Properties"].get("Description", "")]
    assert rule["EventPattern"]["detail"] == {"severity": ["P0"]}


def test_without_a_pagerduty_service_nothing_of_it_is_deployed(tmp_path) -> None:
    from app import build_app
    from controlplane.config import load_config
    from controlplane.registry import functions

    demo = load_config(ROOT / "config" / "demo.yaml")
    config = dataclasses.replace(demo, notifications=demo.notifications | {"pagerduty": {}, "pagerduty_region": None})
    [stack] = build_app(config, outdir=str(tmp_path)).synth().stacks
    body = json.dumps(stack.template)
    assert "pagerduty" not in body.lower()
    assert "pagerduty" not in functions(Policy(config.policy()))


def test_drift_is_checked_by_aws_configs_managed_rule_with_a_read_only_role(template, config) -> None:
    [rule] = [r["Properties"] for r in resources(template, "AWS::Config::ConfigRule").values()]
    assert rule["ConfigRuleName"] == f"{config.prefix}-stack-drift"
    assert rule["Source"] == {"Owner": "AWS", "SourceIdentifier": "CLOUDFORMATION_STACK_DRIFT_DETECTION_CHECK"}
    assert rule["Scope"] == {"ComplianceResourceTypes": ["AWS::CloudFormation::Stack"]}
    assert rule["MaximumExecutionFrequency"] == "Six_Hours"
    role_id = rule["InputParameters"]["cloudformationRoleArn"]["Fn::GetAtt"][0]
    role = resources(template, "AWS::IAM::Role")[role_id]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "config.amazonaws.com"}
    assert "ReadOnlyAccess" in json.dumps(role["ManagedPolicyArns"]) and "Policies" not in role
    # No function may assume it or holds its read access.
    assert not [s for s in _statements(template) if "sts:AssumeRole" in json.dumps(s["Action"])]


def test_the_health_canary_asks_the_url_every_minute_on_the_python_runtime(template, config) -> None:
    """What the health and availability alarms watch: the canary named after the deployment, its
    script from canary/, its runs in a private bucket; the calendar may read its runs, nothing more."""
    [canary] = resources(template, "AWS::Synthetics::Canary").values()
    properties = canary["Properties"]
    assert properties["Name"] == config.synthetics["canary_name"] == "financeanalyst-pro-demo-health"
    assert properties["RuntimeVersion"].startswith("syn-python-selenium-")
    assert properties["Code"]["Handler"] == "health_check.handler"
    assert properties["Schedule"]["Expression"] == "rate(1 minute)"
    assert properties["RunConfig"]["EnvironmentVariables"] == {"HEALTH_URL": "https://app.financeanalyst.pro/health",
                                                               "TIMEOUT_SECONDS": "10"}
    for key in ("health", "availability"):
        template.has_resource_properties("AWS::CloudWatch::Alarm", {
            "AlarmName": config.alarm(key).name, "Namespace": "CloudWatchSynthetics", "MetricName": "SuccessPercent",
            "Dimensions": [{"Name": "CanaryName", "Value": "financeanalyst-pro-demo-health"}]})
    [runs] = [s for s in _statements(template, "CalendarHandlerRole") if s["Action"] == "synthetics:GetCanaryRuns"]
    assert runs["Resource"] == "arn:aws:synthetics:us-east-1:123456789012:canary:financeanalyst-pro-demo-health"


@pytest.fixture(scope="module")
def regional_hub(tmp_path_factory: pytest.TempPathFactory):
    """config/production-api.example.yaml with its WAF in the hub and one account (no organization,
    so no member target): its synthesized stack."""
    from app import build_app
    from controlplane.config import parse_config
    from variants import API_RAW, with_hub_waf

    raw = with_hub_waf(API_RAW)
    del raw["organization"], raw["rollback"]["targets"]["checkout"]
    config = parse_config(raw)
    [stack] = build_app(config, outdir=str(tmp_path_factory.mktemp("cdk.out.regional"))).synth().stacks
    return config, stack


def test_the_load_balancer_example_synthesizes_in_its_region_with_a_regional_web_acl(regional_hub) -> None:
    """config/production-api.example.yaml, its WAF in the hub, through cdk-nag: eu-west-1, the WebACL
    REGIONAL and associated with the load balancer, its blocked-requests alarm on the Region's series,
    and the toggle allowed that WebACL only."""
    config, stack = regional_hub
    template = Template.from_json(stack.template)
    assert stack.environment.region == "eu-west-1"
    [(acl_id, acl)] = resources(template, "AWS::WAFv2::WebACL").items()
    assert acl["Properties"]["Scope"] == "REGIONAL"
    [association] = resources(template, "AWS::WAFv2::WebACLAssociation").values()
    assert association["Properties"] == {"ResourceArn": config.waf["protects"][0],
                                         "WebACLArn": {"Fn::GetAtt": [acl_id, "Arn"]}}
    template.has_resource_properties("AWS::CloudWatch::Alarm", {
        "AlarmName": "financeanalyst-api-production-waf-blocked-requests", "Namespace": "AWS/WAFV2",
        "Dimensions": Match.array_with([{"Name": "Region", "Value": "eu-west-1"}])})
    [waf] = [s for s in _statements(template, "WafHandlerRole") if "wafv2:UpdateWebACL" in s["Action"]]
    assert waf["Resource"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    error_rate = next(r["Properties"] for r in resources(template, "AWS::CloudWatch::Alarm").values()
                      if r["Properties"]["AlarmName"] == "financeanalyst-api-production-error-rate")
    assert [m["Expression"] for m in error_rate["Metrics"] if "Expression" in m] == ["100 * FILL(errors, 0) / requests"]
