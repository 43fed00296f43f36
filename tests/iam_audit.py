"""Proof that each function's role allows what the function really calls, and nothing it does not.

Every AWS call a handler makes while the tests run it (through `opsctl.lambda_host.invoke`, as the
Lambda runtime would) is recorded with its parameters, turned into the IAM actions and resource
ARNs AWS authorises it by (per item for DynamoDB's batch and transaction calls, `iam:PassRole` for
the role a call hands to a service), and evaluated against the statements of that function's role
in the synthesized template by moto's IAM policy evaluator. The template's intrinsic functions are
resolved to the names the local world uses (the stacks and `opsctl.world` name resources alike)."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from botocore.client import BaseClient
from moto.iam.access_control import IAMPolicyStatement, PermissionResult

from controlplane import runtime
from controlplane.events import function_name
from opsctl import lambda_host

# IAM's prefix where it differs from botocore's service name.
IAM_PREFIX = {"resourcegroupstaggingapi": "tag"}
# S3 operations authorised by another action's name.
S3_ACTIONS = {"ListObjectsV2": "ListBucket", "ListObjects": "ListBucket", "HeadBucket": "ListBucket",
              "HeadObject": "GetObject", "ListObjectVersions": "ListBucketVersions",
              "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration", "DeleteObjects": "DeleteObject",
              "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration"}
TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}


@dataclass(frozen=True)
class Need:
    """One authorisation a call needs: action on resource (with the condition keys AWS supplies)."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Call:
    function: str
    service: str
    operation: str
    params: str  # JSON, so calls are hashable and comparable
    deployment: str = ""  # the prefix of the config the function ran with (its stack's names)
    principal: str = ""  # the role assumed for it (a spoke's remediation role); "": the function's own
    region: str = ""  # the client's Region


@dataclass
class CallRecorder:
    """Records every botocore call made while a handler runs (wherever its client came from: the
    world's session, a Stubber'd client, a fresh one)."""

    calls: set[Call] = field(default_factory=set)
    assumed: dict[str, str] = field(default_factory=dict)  # access key id → the role AssumeRole gave it for

    def install(self) -> None:
        original = BaseClient._make_api_call
        recorder = self

        def recording(client: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
            function = lambda_host.running_function()
            if function is not None:
                credentials = client._request_signer._credentials
                recorder.calls.add(Call(
                    function, client.meta.service_model.service_name, operation_name,
                    json.dumps(api_params, sort_keys=True, default=str), deployment=runtime.dependencies().policy.prefix,
                    principal=recorder.assumed.get(credentials.access_key, "") if credentials else "",
                    region=client.meta.region_name or ""))
            result = original(client, operation_name, api_params)
            if operation_name == "AssumeRole" and function is not None:  # a function's, not the world's set-up
                recorder.assumed[result["Credentials"]["AccessKeyId"]] = api_params["RoleArn"]
            return result

        BaseClient._make_api_call = recording  # type: ignore[method-assign]
        self._original = original

    def uninstall(self) -> None:
        BaseClient._make_api_call = self._original  # type: ignore[method-assign]


def needs(call: Call, account: str, region: str) -> list[Need]:
    """The authorisations AWS checks for one call."""
    params = json.loads(call.params)
    prefix = IAM_PREFIX.get(call.service, call.service)
    arn = _Arns(account, region)
    op = call.operation
    if call.service == "dynamodb":
        return list(_dynamodb(op, params, arn))
    if call.service == "s3":
        return list(_s3(op, params))
    resource = _resource(call.service, op, params, arn)
    found = [Need(f"{prefix}:{op}", resource)]
    for role_key, service in (("RoleArn", "scheduler.amazonaws.com"), ("IamRoleArn", "backup.amazonaws.com")):
        role = (params.get("Target") or {}).get(role_key) if call.service == "scheduler" else params.get(role_key)
        if role and call.service != "sts":  # AssumeRole's RoleArn is the role assumed, not one handed over
            found.append(Need("iam:PassRole", role, (("iam:PassedToService", service),)))
    return found


class _Arns:
    def __init__(self, account: str, region: str) -> None:
        self.account, self.region = account, region

    def __call__(self, service: str, resource: str, region: str | None = None, account: str | None = None) -> str:
        region = self.region if region is None else region
        account = self.account if account is None else account
        return f"arn:aws:{service}:{region}:{account}:{resource}"


def _dynamodb(op: str, params: dict[str, Any], arn: _Arns) -> Iterator[Need]:
    table = lambda name: arn("dynamodb", f"table/{name}")  # noqa: E731
    if op == "BatchGetItem":
        yield from (Need("dynamodb:BatchGetItem", table(name)) for name in params["RequestItems"])
    elif op == "BatchWriteItem":  # authorised as itself, on each table it writes
        yield from (Need("dynamodb:BatchWriteItem", table(name)) for name in params["RequestItems"])
    elif op == "TransactWriteItems":
        for item in params["TransactItems"]:
            [(kind, body)] = item.items()
            yield Need(f"dynamodb:{TRANSACT_ACTIONS[kind]}", table(body["TableName"]))
    elif op == "TransactGetItems":
        yield from (Need("dynamodb:GetItem", table(i["Get"]["TableName"])) for i in params["TransactItems"])
    elif op == "Query" and params.get("IndexName"):
        yield Need("dynamodb:Query", table(params["TableName"]) + f"/index/{params['IndexName']}")
    elif "TableName" in params:
        yield Need(f"dynamodb:{op}", table(params["TableName"]))
    else:
        yield Need(f"dynamodb:{op}", "*")


def _s3(op: str, params: dict[str, Any]) -> Iterator[Need]:
    action = "s3:" + S3_ACTIONS.get(op, op)
    bucket = f"arn:aws:s3:::{params['Bucket']}" if "Bucket" in params else "*"
    if op == "DeleteObjects":
        for entry in params["Delete"]["Objects"]:
            yield Need("s3:DeleteObjectVersion" if entry.get("VersionId") else "s3:DeleteObject", f"{bucket}/{entry['Key']}")
    elif "Key" in params:
        yield Need(action, f"{bucket}/{params['Key']}")
    else:
        yield Need(action, bucket)


SECRET_SUFFIX = "AbC123"  # a secret ARN's six random characters, as a call's resource (the template's: "*")


def _resource(service: str, op: str, params: dict[str, Any], arn: _Arns) -> str:
    if service == "sns":
        return str(params.get("TopicArn") or "*")
    if service == "sts":
        return str(params.get("RoleArn") or "*")
    if service == "sqs":
        path = urlparse(params["QueueUrl"]).path.strip("/").split("/") if "QueueUrl" in params else None
        return arn("sqs", path[-1], account=path[-2]) if path else "*"
    if service == "events":
        buses = {e.get("EventBusName", "default") for e in params.get("Entries", [])} or {params.get("EventBusName", "default")}
        [bus] = buses
        return bus if bus.startswith("arn:") else arn("events", f"event-bus/{bus}")
    if service == "scheduler":
        if "Name" in params and op != "CreateScheduleGroup":
            return arn("scheduler", f"schedule/{params.get('GroupName', 'default')}/{params['Name']}")
        return "*"
    if service == "cloudwatch":
        names = params.get("AlarmNames") or ([params["AlarmName"]] if "AlarmName" in params else None)
        if names:
            [name] = names
            return arn("cloudwatch", f"alarm:{name}")
        return arn("cloudwatch", "alarm:*") if op == "DescribeAlarms" else "*"
    if service == "wafv2":
        scope = "global" if params.get("Scope") == "CLOUDFRONT" else "regional"
        region = "us-east-1" if scope == "global" else None
        return arn("wafv2", f"{scope}/webacl/{params['Name']}/{params['Id']}", region=region)
    if service == "lambda":
        return arn("lambda", f"function:{params['FunctionName']}") if "FunctionName" in params else "*"
    if service == "cloudfront":
        distribution = params.get("Id") or params.get("DistributionId")
        return arn("cloudfront", f"distribution/{distribution}", region="") if distribution else "*"
    if service == "rds":
        return arn("rds", f"db:{params['DBInstanceIdentifier']}") if "DBInstanceIdentifier" in params else "*"
    if service == "synthetics":
        return arn("synthetics", f"canary:{params['Name']}")
    if service == "logs":
        if op == "StartQuery":
            [group] = params["logGroupNames"]  # the config's groups, one in the demo
            return arn("logs", f"log-group:{group}:*")
        return arn("logs", "log-group:*") if op == "DescribeLogGroups" else "*"
    if service == "secretsmanager" and "SecretId" in params:
        # Called by name; IAM sees the secret's ARN, whose last six characters AWS chose at creation.
        secret = str(params["SecretId"])
        return secret if secret.startswith("arn:") else arn("secretsmanager", f"secret:{secret}-{SECRET_SUFFIX}")
    if service == "backup":
        if "RecoveryPointArn" in params:
            return str(params["RecoveryPointArn"])
        if "BackupVaultName" in params:
            return arn("backup", f"backup-vault:{params['BackupVaultName']}")
        if "BackupPlanId" in params:
            return arn("backup", f"backup-plan:{params['BackupPlanId']}")
        return "*"
    return "*"


# --- the template -------------------------------------------------------------------------------

NAME_PROPERTY = {"AWS::DynamoDB::GlobalTable": "TableName", "AWS::SQS::Queue": "QueueName", "AWS::SNS::Topic": "TopicName",
                 "AWS::Events::EventBus": "Name", "AWS::Lambda::Function": "FunctionName", "AWS::IAM::Role": "RoleName",
                 "AWS::Logs::LogGroup": "LogGroupName", "AWS::Scheduler::ScheduleGroup": "Name",
                 "AWS::S3::Bucket": "BucketName", "AWS::CloudWatch::Alarm": "AlarmName", "AWS::WAFv2::WebACL": "Name",
                 "AWS::Backup::BackupVault": "BackupVaultName", "AWS::SecretsManager::Secret": "Name"}


class Template:
    """The synthesized template's roles, with intrinsic functions resolved to concrete ARNs."""

    def __init__(self, body: dict[str, Any], account: str, region: str) -> None:
        self.resources = body["Resources"]
        self.conditions = body.get("Conditions", {})
        self.account, self.region = account, region
        self.arn = _Arns(account, region)

    def name(self, logical_id: str) -> str:
        resource = self.resources[logical_id]
        key = NAME_PROPERTY.get(resource["Type"])
        value = resource.get("Properties", {}).get(key) if key else None
        return str(self.resolve(value)) if value is not None else logical_id

    def ref(self, target: str) -> Any:
        pseudo = {"AWS::Partition": "aws", "AWS::Region": self.region, "AWS::AccountId": self.account,
                  "AWS::URLSuffix": "amazonaws.com"}
        if target in pseudo:
            return pseudo[target]
        kind = self.resources[target]["Type"]
        if kind in ("AWS::SNS::Topic",):
            return self.arn("sns", self.name(target))
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{self.region}.amazonaws.com/{self.account}/{self.name(target)}"
        if kind == "AWS::SecretsManager::Secret":
            # The six characters AWS appends at creation (moto's evaluator knows "*", not "?").
            return self.arn("secretsmanager", f"secret:{self.name(target)}-*")
        return self.name(target)

    def get_att(self, target: str, attribute: str) -> str:
        kind, name = self.resources[target]["Type"], self.name(target)
        arns = {
            "AWS::DynamoDB::GlobalTable": {"Arn": self.arn("dynamodb", f"table/{name}"),
                                           "StreamArn": self.arn("dynamodb", f"table/{name}/stream/*")},
            "AWS::SQS::Queue": {"Arn": self.arn("sqs", name), "QueueName": name},
            "AWS::SNS::Topic": {"TopicArn": self.arn("sns", name)},
            "AWS::Events::EventBus": {"Arn": self.arn("events", f"event-bus/{name}"), "Name": name},
            "AWS::Lambda::Function": {"Arn": self.arn("lambda", f"function:{name}")},
            "AWS::IAM::Role": {"Arn": f"arn:aws:iam::{self.account}:role/{name}"},
            "AWS::Logs::LogGroup": {"Arn": self.arn("logs", f"log-group:{name}:*")},
            "AWS::KMS::Key": {"Arn": self.arn("kms", f"key/{target}")},
            "AWS::Scheduler::ScheduleGroup": {"Arn": self.arn("scheduler", f"schedule-group/{name}")},
            "AWS::S3::Bucket": {"Arn": f"arn:aws:s3:::{name}"},
            "AWS::CloudWatch::Alarm": {"Arn": self.arn("cloudwatch", f"alarm:{name}")},
            # Ids AWS assigns at deploy time: any id, under this resource's name.
            "AWS::WAFv2::WebACL": {"Arn": self.arn("wafv2", f"regional/webacl/{name}/*") if self.resources[target].get(
                "Properties", {}).get("Scope") == "REGIONAL" else self.arn("wafv2", f"global/webacl/{name}/*", region="us-east-1")},
            "AWS::Backup::BackupVault": {"BackupVaultArn": self.arn("backup", f"backup-vault:{name}"), "BackupVaultName": name},
            "AWS::Backup::BackupPlan": {"BackupPlanArn": self.arn("backup", "backup-plan:*")},
        }
        return arns[kind][attribute]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            [(key, argument)] = value.items()
            if key == "Ref":
                return self.ref(argument)
            if key == "Fn::GetAtt":
                target, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return self.get_att(target, attribute)
            if key == "Fn::Join":
                separator, parts = argument
                return separator.join(str(self.resolve(p)) for p in parts)
        return {k: self.resolve(v) for k, v in value.items()}

    def function(self, function_name: str) -> dict[str, Any]:
        [function] = [r for r in self.resources.values()
                      if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("FunctionName") == function_name]
        return function  # type: ignore[no-any-return]

    def function_environment(self, function_name: str) -> dict[str, Any]:
        return self.resolve(self.function(function_name)["Properties"]["Environment"]["Variables"])  # type: ignore[no-any-return]

    def role_statements(self, function_name: str) -> list[dict[str, Any]]:
        """Every statement of the role the function named `function_name` runs with."""
        return self._statements_of(self.function(function_name)["Properties"]["Role"]["Fn::GetAtt"][0])

    def named_role_statements(self, role_name: str) -> list[dict[str, Any]]:
        """Every statement of the role named `role_name`, in this account and Region (its policies'
        CloudFormation conditions evaluated)."""
        [role] = [logical_id for logical_id, resource in self.resources.items()
                  if resource["Type"] == "AWS::IAM::Role" and resource["Properties"].get("RoleName") == role_name]
        return self._statements_of(role)

    def holds(self, condition: str | None) -> bool:
        """A CloudFormation condition of the template, evaluated here (Fn::Equals, Fn::And)."""
        if condition is None:
            return True

        def evaluate(expression: dict[str, Any]) -> bool:
            [(function, argument)] = expression.items()
            if function == "Condition":
                return evaluate(self.conditions[argument])
            if function == "Fn::Equals":
                return bool(self.resolve(argument[0]) == self.resolve(argument[1]))
            if function == "Fn::And":
                return all(evaluate(each) for each in argument)
            raise ValueError(f"condition function {function} not evaluated here")

        return evaluate(self.conditions[condition])

    def _statements_of(self, role: str) -> list[dict[str, Any]]:
        statements = []
        for resource in self.resources.values():
            if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role} in resource["Properties"]["Roles"] \
                    and self.holds(resource.get("Condition")):
                statements += self.resolve(resource["Properties"]["PolicyDocument"]["Statement"])
        for policy in self.resources[role].get("Properties", {}).get("Policies", []):
            statements += self.resolve(policy["PolicyDocument"]["Statement"])
        return statements


@dataclass(frozen=True)
class Grant:
    """One action on one resource pattern that a role's statement allows."""

    function: str
    action: str
    resource: str


def split_grants(function: str, statements: list[dict[str, Any]]) -> list[tuple[Grant, dict[str, Any]]]:
    grants = []
    for statement in statements:
        if statement["Effect"] != "Allow":
            continue
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in actions:
            for resource in resources:
                if resource.startswith("arn:") and resource.split(":")[2] != action.split(":")[0] \
                        and (action.split(":")[0], resource.split(":")[2]) != ("sts", "iam"):
                    continue  # an action applies to its own service's resources only (STS's to IAM's roles)
                single = {**statement, "Action": action, "Resource": resource}
                grants.append((Grant(function, action, resource), single))
    return grants


def allowed_by(need: Need, grants: list[tuple[Grant, dict[str, Any]]]) -> list[Grant]:
    """The grants that allow `need` (moto's evaluator: action, resource and condition)."""
    context = dict(need.context)
    return [grant for grant, statement in grants
            if IAMPolicyStatement(statement).is_action_permitted(need.action, need.resource, None, context)
            == PermissionResult.PERMITTED]


def audit(calls: set[Call], template: Template, prefix: str,
          aliases: dict[str, str]) -> tuple[dict[str, list[str]], set[Grant]]:
    """(function → calls its role does not allow, grants no call used). `aliases`: regular
    expressions for local names and ids → what the deployed stack has in their place."""
    denied: dict[str, list[str]] = defaultdict(list)
    used: set[Grant] = set()
    grants_of: dict[str, list[tuple[Grant, dict[str, Any]]]] = {}
    for call in sorted(of_deployment(calls, prefix), key=lambda c: (c.function, c.service, c.operation, c.params)):
        if call.function not in grants_of:
            name = function_name(prefix, call.function)
            grants_of[call.function] = split_grants(call.function, template.role_statements(name))
        for need in needs(call, template.account, template.region):
            resource = deployed_name(need.resource, aliases)
            allowing = allowed_by(Need(need.action, resource, need.context), grants_of[call.function])
            if not allowing:
                denied[call.function].append(f"{need.action} on {resource} ({call.service}.{call.operation})")
            used.update(allowing)
    every_grant = {grant for grants in grants_of.values() for grant, _ in grants}
    return dict(denied), every_grant - used


def deployed_name(resource: str, aliases: dict[str, str]) -> str:
    """`resource` with each local name or id (`aliases`' regular expressions) made the deployed one."""
    for local in sorted(aliases, key=len, reverse=True):
        resource = re.sub(local, aliases[local], resource)
    return resource


def of_deployment(calls: set[Call], prefix: str) -> list[Call]:
    """The calls the functions of one deployment made with their own roles."""
    return [call for call in calls if call.deployment == prefix and not call.principal]


def audit_assumed(calls: set[Call], template: dict[str, Any], role_name: str, home_region: str,
                  aliases: dict[str, str]) -> tuple[dict[str, list[str]], set[Grant]]:
    """(principal → calls the role does not allow, grants no call used) for the calls made with a
    spoke's remediation role (`template`: the spoke's, deployed in every member account; the role's
    instance is the home Region's). Each account's role has the statements its conditions give it.
    `aliases` as for audit()."""
    denied: dict[str, list[str]] = defaultdict(list)
    used: set[Grant] = set()
    every_grant: set[Grant] = set()
    for call in sorted(calls, key=lambda c: (c.principal, c.service, c.operation, c.params)):
        if not call.principal.endswith(f":role/{role_name}"):
            continue
        account = call.principal.split(":")[4]
        grants = split_grants(call.principal, Template(template, account, home_region).named_role_statements(role_name))
        every_grant.update(grant for grant, _ in grants)
        for need in needs(call, account, call.region):
            resource = deployed_name(need.resource, aliases)
            allowing = allowed_by(Need(need.action, resource, need.context), grants)
            if not allowing:
                denied[call.principal].append(
                    f"{need.action} on {resource} ({call.function}: {call.service}.{call.operation})")
            used.update(allowing)
    return dict(denied), every_grant - used


def all_grants(template: Template, prefix: str, functions: list[str]) -> set[Grant]:
    return {grant for function in functions
            for grant, _ in split_grants(function, template.role_statements(function_name(prefix, function)))}
