"""The organization's shape in the templates (config/production-api.example.yaml has one): the hub's
intake bus admits the organization only, the hub's functions may assume exactly the members'
remediation roles, a service-managed StackSet with automatic deployment carries the spoke, and the
spoke's template (cdk-nag checked in the hub's synth) is asserted statement by statement. Without
`organization:` (the demo) none of it is there."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

from controlplane.events import ALARM_STATE_CHANGE_PATTERN, HEARTBEAT_PATTERN, MEMBER_BACKUP_JOB_PATTERN
from controlplane.registry import BACKUP_VERIFY_CONCURRENCY
from stacks.constructs.organization import TEMPLATE_BODY_LIMIT

MEMBERS = ["222233334444", "333344445555", "444455556666"]
ROLE = "financeanalyst-api-production-remediation"


def only(template: Template, kind: str) -> tuple[str, Any]:
    [(logical_id, resource)] = template.find_resources(kind).items()
    return logical_id, resource


@pytest.fixture(scope="module")
def stack_set(org_template: Template) -> dict[str, Any]:
    return only(org_template, "AWS::CloudFormation::StackSet")[1]["Properties"]


@pytest.fixture(scope="module")
def spoke(stack_set: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(stack_set["TemplateBody"]))


def role_statements(template: dict[str, Any], role_logical_id: str) -> list[dict[str, Any]]:
    return [statement for resource in template["Resources"].values() if resource["Type"] == "AWS::IAM::Policy"
            and {"Ref": role_logical_id} in resource["Properties"]["Roles"]
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]]


def test_the_stack_set_is_service_managed_and_deploys_itself_to_new_accounts(stack_set: dict[str, Any]) -> None:
    assert stack_set["PermissionModel"] == "SERVICE_MANAGED"
    assert stack_set["CallAs"] == "DELEGATED_ADMIN"
    assert stack_set["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    assert stack_set["Capabilities"] == ["CAPABILITY_NAMED_IAM"]
    assert stack_set["StackInstancesGroup"] == [{"DeploymentTargets": {"OrganizationalUnitIds": ["ou-a1b2-11111111"]},
                                                 "Regions": ["eu-west-1", "eu-central-1"]}]
    assert len(stack_set["TemplateBody"]) <= TEMPLATE_BODY_LIMIT
    # The hub's function roles that may assume the spoke role, given when the hub deploys.
    [parameter] = stack_set["Parameters"]
    assert parameter["ParameterKey"] == "HubPrincipals"
    roles = parameter["ParameterValue"]["Fn::Join"][1]
    assert [role["Fn::GetAtt"][0].split("HandlerRole")[0] for role in roles] == ["Triage", "Rollback", "Coverage",
                                                                                  "Backups", "Waf"]


def test_the_intake_bus_admits_the_organization_only(org_template: Template) -> None:
    _, bus = only_bus(org_template, "financeanalyst-api-production-intake")
    assert bus["Properties"]["Policy"]["Statement"] == [{
        "Sid": "OrganizationSpokesForward", "Effect": "Allow", "Principal": "*", "Action": "events:PutEvents",
        "Resource": "arn:aws:events:eu-west-1:111122223333:event-bus/financeanalyst-api-production-intake",
        "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}}]


def only_bus(template: Template, name: str) -> tuple[str, Any]:
    [(logical_id, bus)] = [(k, v) for k, v in template.find_resources("AWS::Events::EventBus").items()
                           if v["Properties"]["Name"] == name]
    return logical_id, bus


def test_the_intake_bus_rules_reach_triage_coverage_and_backup_verification(org_template: Template) -> None:
    bus_id, _ = only_bus(org_template, "financeanalyst-api-production-intake")
    rules = [r["Properties"] for r in org_template.find_resources("AWS::Events::Rule").values()
             if r["Properties"].get("EventBusName") == {"Ref": bus_id}]
    by_target = {rule["Targets"][0]["Arn"]["Fn::GetAtt"][0].split("Handler")[0]: rule["EventPattern"] for rule in rules}
    assert by_target == {"Triage": ALARM_STATE_CHANGE_PATTERN, "Coverage": HEARTBEAT_PATTERN,
                         "Backups": MEMBER_BACKUP_JOB_PATTERN}


@pytest.mark.parametrize(("function", "detail_types"), [("Coverage", ["Coverage Check"]),
                                                        ("Backups", ["Backup Check", "Member Backups Due"])])
def test_the_ops_bus_admits_the_organizations_putters_for_their_own_events_only(
        org_template: Template, function: str, detail_types: list[str]) -> None:
    """The ops bus's own policy denies every putter it does not name: the coverage check's findings
    (and backup verification's fan-out) would be refused by AWS if a role were granted after the
    policy was written."""
    _, bus = only_bus(org_template, "financeanalyst-api-production-ops")
    statements = {s["Sid"]: s for s in bus["Properties"]["Policy"]["Statement"]}
    allowed = statements["OnlyOurFunctionsAndDeployers"]["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    role = {"Fn::GetAtt": [next(k for k in org_template.find_resources("AWS::IAM::Role")
                                if k.startswith(f"{function}HandlerRole")), "Arn"]}
    assert role in allowed
    [only_its_own] = [s for s in statements.values() if s["Condition"].get("ArnEquals", {}).get("aws:PrincipalArn")
                      == role]
    assert only_its_own["Condition"]["StringNotEquals"] == {"events:detail-type": detail_types}


def test_backup_verification_runs_a_bounded_number_at_once(org_template: Template) -> None:
    """The hourly fan-out (one invocation per member account) queues behind the verifier's reserved
    concurrency rather than taking the hub's executions and STS's rate in one second."""
    [verifier] = [f["Properties"] for f in org_template.find_resources("AWS::Lambda::Function").values()
                  if f["Properties"].get("FunctionName") == "financeanalyst-api-production-backup-verify"]
    assert verifier["ReservedConcurrentExecutions"] == BACKUP_VERIFY_CONCURRENCY == 10


def test_the_hub_functions_may_assume_exactly_the_members_roles(org_template: Template) -> None:
    assumers = {}
    for policy in org_template.find_resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Action"] == "sts:AssumeRole":
                assumers[policy["Properties"]["Roles"][0]["Ref"].split("HandlerRole")[0]] = statement["Resource"]
    wanted = [f"arn:aws:iam::{account}:role/{ROLE}" for account in MEMBERS]
    assert assumers == {"Triage": wanted, "Rollback": wanted, "Coverage": wanted, "Backups": wanted, "Waf": wanted}


def test_the_waf_toggle_of_a_members_web_acl_has_no_waf_or_alarm_grant_in_the_hub(org_template: Template) -> None:
    """The example's WebACL is the shared-services account's: the hub makes no WebACL and no
    blocked-requests alarm, and the toggle's own role reads and writes neither WAF nor alarms (the
    spoke role does, there); its status page's distribution takes no WebACL of another account."""
    assert org_template.find_resources("AWS::WAFv2::WebACL") == {}
    assert org_template.find_resources("AWS::WAFv2::WebACLAssociation") == {}
    waf_role = [statement for policy in org_template.find_resources("AWS::IAM::Policy").values()
                if policy["Properties"]["Roles"][0]["Ref"].startswith("WafHandlerRole")
                for statement in policy["Properties"]["PolicyDocument"]["Statement"]]
    actions = {action for statement in waf_role for action in
               (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])}
    assert "sts:AssumeRole" in actions
    assert not {action for action in actions if action.startswith(("wafv2:", "cloudwatch:"))}
    [distribution] = org_template.find_resources("AWS::CloudFront::Distribution").values()
    assert "WebACLId" not in distribution["Properties"]["DistributionConfig"]


def test_the_spoke_role_trusts_the_hub_roles_inside_the_organization_only(spoke: dict[str, Any]) -> None:
    [role] = [v for v in spoke["Resources"].values() if v["Properties"].get("RoleName") == ROLE]
    assert role["Condition"] == "RoleRegion"  # IAM is global: one Region of each account makes it
    assert spoke["Conditions"]["RoleRegion"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "eu-west-1"]}
    [trust] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == {
        "Action": "sts:AssumeRole", "Effect": "Allow",
        "Principal": {"AWS": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::111122223333:root"]]}},
        "Condition": {"ArnEquals": {"aws:PrincipalArn": {"Ref": "HubPrincipals"}},
                      "StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}}
    assert role["Properties"]["MaxSessionDuration"] == 3600


def test_the_spoke_role_may_read_alarms_and_backups_and_switch_its_own_accounts_targets_only(
        spoke: dict[str, Any]) -> None:
    [role_id] = [k for k, v in spoke["Resources"].items() if v["Properties"].get("RoleName") == ROLE]
    policies = {k: v for k, v in spoke["Resources"].items()
                if v["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in v["Properties"]["Roles"]}
    by_name = {k[:-8]: (v["Condition"], v["Properties"]["PolicyDocument"]["Statement"]) for k, v in policies.items()}
    account_arn = lambda service, resource: {"Fn::Join": ["", [  # noqa: E731
        "arn:", {"Ref": "AWS::Partition"}, f":{service}:*:", {"Ref": "AWS::AccountId"}, resource]]}
    assert by_name["LookAtAlarms"] == ("RoleRegion", [{
        "Action": "cloudwatch:DescribeAlarms", "Effect": "Allow", "Resource": account_arn("cloudwatch", ":alarm:*")}])
    assert by_name["VerifyBackups"] == ("RoleRegion", [
        {"Action": ["backup:ListBackupPlans", "backup:ListRecoveryPointsByResource", "tag:GetResources"],
         "Effect": "Allow", "Resource": "*"},
        {"Action": "backup:GetBackupPlan", "Effect": "Allow", "Resource": account_arn("backup", ":backup-plan:*")}])
    # The checkout target lives in 222233334444 eu-central-1: only that account's role may switch it.
    assert spoke["Conditions"]["Targets222233334444"] == {"Fn::And": [
        {"Condition": "RoleRegion"}, {"Fn::Equals": [{"Ref": "AWS::AccountId"}, "222233334444"]}]}
    assert by_name["RollbackTargets222233334444"] == ("Targets222233334444", [
        {"Action": "cloudwatch:DescribeAlarms", "Effect": "Allow",
         "Resource": "arn:aws:cloudwatch:eu-central-1:222233334444:alarm:checkout-production-error-rate"},
        {"Action": ["lambda:GetAlias", "lambda:UpdateAlias"], "Effect": "Allow",
         "Resource": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"},
                                        ":lambda:eu-central-1:222233334444:function:checkout-production-api"]]}}])
    # The WAF's WebACL is in 444455556666 eu-west-1: only that account's role may read it and flip its rule.
    assert spoke["Conditions"]["WafAccount"] == {"Fn::And": [
        {"Condition": "RoleRegion"}, {"Fn::Equals": [{"Ref": "AWS::AccountId"}, "444455556666"]}]}
    assert by_name["WafTarget"] == ("WafAccount", [
        {"Action": ["wafv2:GetWebACL", "wafv2:UpdateWebACL"], "Effect": "Allow",
         "Resource": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":wafv2:eu-west-1:444455556666:regional/webacl/"
                                        "shared-edge/7b2f1c9e-4d3a-4e8b-9f61-2a5c8d0e3b14"]]}}])
    assert set(by_name) == {"LookAtAlarms", "VerifyBackups", "RollbackTargets222233334444", "WafTarget"}


def test_cfn_lint_reports_nothing_on_the_spoke_template(spoke: dict[str, Any], tmp_path, cfn_lint) -> None:
    """The template every member account gets (the StackSet's body) is linted as the hub's is."""
    path = tmp_path / "spoke.template.json"
    path.write_text(json.dumps(spoke), encoding="utf-8")
    cfn_lint(path)


def test_the_spoke_holds_the_runbooks_vault_and_plan(spoke: dict[str, Any]) -> None:
    """Each member account × Region backs up what it tags as the hub does: one rule per backup class
    (the runbook's table), resources chosen by the tag, AWS Backup's role unnamed (IAM is global)."""
    resources = spoke["Resources"]
    [vault] = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Backup::BackupVault"]
    assert vault["BackupVaultName"] == "financeanalyst-api-production-backups" and "EncryptionKeyArn" not in vault
    [plan] = [r["Properties"]["BackupPlan"] for r in resources.values() if r["Type"] == "AWS::Backup::BackupPlan"]
    assert plan["BackupPlanName"] == "financeanalyst-api-production-backups"
    assert {rule["RuleName"]: rule["Lifecycle"]["DeleteAfterDays"] for rule in plan["BackupPlanRule"]} == {
        "full": 30, "database": 7}
    selections = [r["Properties"]["BackupSelection"] for r in resources.values()
                  if r["Type"] == "AWS::Backup::BackupSelection"]
    assert sorted((s["ListOfTags"][0]["ConditionKey"], s["ListOfTags"][0]["ConditionValue"]) for s in selections) == [
        ("backup-class", "database"), ("backup-class", "full")]
    [backup_role] = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::IAM::Role"
                     and r["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"].get("Service")
                     == "backup.amazonaws.com"]
    assert "RoleName" not in backup_role


def test_the_spoke_forwards_alarms_and_heartbeats_to_the_hub_bus_with_a_dead_letter_queue(spoke: dict[str, Any]) -> None:
    resources = spoke["Resources"]
    rules = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Events::Rule"]
    assert sorted(json.dumps(r["EventPattern"], sort_keys=True) for r in rules) == sorted(
        json.dumps(p, sort_keys=True) for p in (ALARM_STATE_CHANGE_PATTERN, HEARTBEAT_PATTERN, MEMBER_BACKUP_JOB_PATTERN))
    hub_bus = "arn:aws:events:eu-west-1:111122223333:event-bus/financeanalyst-api-production-intake"
    for rule in rules:
        [target] = rule["Targets"]
        assert target["Arn"] == hub_bus and "Arn" in target["DeadLetterConfig"]
    [forward_role] = {rule["Targets"][0]["RoleArn"]["Fn::GetAtt"][0] for rule in rules}
    assert role_statements(spoke, forward_role) == [
        {"Action": "events:PutEvents", "Effect": "Allow", "Resource": hub_bus}]
    [heartbeat] = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Scheduler::Schedule"]
    assert heartbeat["ScheduleExpression"] == "rate(5 minutes)"
    assert heartbeat["Target"]["EventBridgeParameters"] == {"DetailType": "Spoke Heartbeat", "Source": "ops.spoke"}
    assert json.loads(heartbeat["Target"]["Input"])["spoke_version"]
    # A spoke references nothing the hub's bootstrap made: a StackSet template is its body alone.
    assert "BootstrapVersion" not in spoke.get("Parameters", {}) and "Rules" not in spoke


def test_one_account_has_no_spoke_no_stack_set_no_intake_bus(template: Template) -> None:
    assert not template.find_resources("AWS::CloudFormation::StackSet")
    assert [bus["Properties"]["Name"] for bus in template.find_resources("AWS::Events::EventBus").values()] == [
        "financeanalyst-pro-demo-ops"]
    assert not [s for p in template.find_resources("AWS::IAM::Policy").values()
                for s in p["Properties"]["PolicyDocument"]["Statement"] if s["Action"] == "sts:AssumeRole"]
