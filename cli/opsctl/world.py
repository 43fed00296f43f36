"""The configured world, provisioned in an embedded moto: the same table, topics, bus and queues
the stacks deploy, with SQS subscriptions that capture what the control plane sends."""

from __future__ import annotations

import importlib
import json
import os
import tempfile
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from moto.cloudwatch.models import cloudwatch_backends
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.events.models import EventPattern

from controlplane import keys
from controlplane.clock import Clock, isoformat, parse_timestamp
from controlplane.config import ControlPlaneConfig
from controlplane.events import (
    DRIFT_MANAGED_RULE,
    INCIDENT_OPENED,
    OPS_SOURCE,
    OUTBOX_RELAY_RETRIES,
    OUTBOX_STREAM_FILTER,
    backup_plan_name,
    calendar_group,
    checks_group,
    dead_letter_queue_name,
    function_arn,
    function_name,
    intake_bus_name,
    intake_topic,
    ledger_table_name,
    notify_topic,
    ops_bus_name,
    pagerduty_secret_name,
    pagerduty_signing_secret_name,
    scheduler_role_arn,
    spoke_stack_set_name,
)
from controlplane.ledger import to_item
from controlplane.policy import OrganizationPolicy, Policy, WafPolicy
from controlplane.runtime import Dependencies, session_of
from controlplane.settings import SEVERITIES, Settings
from opsctl import deployment, lambda_host
from opsctl.pagerduty_standin import stand_in
from stacks.waf_rules import web_acl_properties

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


@dataclass
class LocalWorld:
    config: ControlPlaneConfig
    policy: dict[str, Any]
    settings: Settings
    session: Any
    notification_queues: dict[str, str]  # severity → capture queue URL
    ops_event_queue: str
    route_queues: list[tuple[str, str]] = field(default_factory=list)  # (function, queue URL) per ops-bus rule
    stand_ins: dict[str, str] = field(default_factory=dict)  # queue ARN → the deployed function it stands in for
    waits: list[float] = field(default_factory=list)  # pacing sleeps the handlers asked for
    traffic_seeded: bool = False
    _containers: dict[str, Dependencies] = field(default_factory=dict)
    authentic_alarms: set[str] = field(default_factory=set)  # named by EventBridge alarm events (AWS's own)
    # Outbox items the relay has taken. The stream hands over every new item whatever time it was
    # committed with, so the local pump must not skip one committed "before" the last relayed.
    _relayed: set[str] = field(default_factory=set)
    _relay_failures: dict[str, int] = field(default_factory=dict)  # outbox sort key → failed deliveries
    # The demo application is fictional: its health check answers 200 unless a test says otherwise.
    http_answers: dict[str, int] = field(default_factory=dict)
    backup: LocalBackup | None = None  # set by provision()
    # SetAlarmState calls not yet delivered as CloudWatch's state-change events (see emit_alarm_changes).
    alarm_changes: list[AlarmChange] = field(default_factory=list)
    # Set by a replay that runs the fire drill: the drill's waits move time and run the pipeline.
    advance: Callable[[float], None] | None = None
    dead_letter_urls: dict[str, str] = field(default_factory=dict)  # queue name → URL (a function parks rejects on its own)
    # PagerDuty: each service's routing key at the stand-in (this world's own), and the webhook's signing secrets.
    pagerduty_keys: dict[str, str] = field(default_factory=dict)
    pagerduty_signing_secrets: list[str] = field(default_factory=list)
    _members: MemberSessions | None = None  # provision's, so the world reuses the sessions it made
    _member_backups: dict[tuple[str, str], LocalBackup] = field(default_factory=dict)  # see backup_in()

    def client(self, service: str) -> Any:
        return self.session.client(service)

    def web_acl_client(self) -> Any:
        """wafv2 where the WAF's WebACL is: the hub's, or a member account's (config waf.account)."""
        return self._sessions().where(self.config.waf["account"], self.config.waf["region"]).client("wafv2")

    def member(self, account: str, region: str) -> Any:
        """A session in a member account and Region (made once: each is an AssumeRole)."""
        return self._sessions()(account, region)

    def _sessions(self) -> MemberSessions:
        if self._members is None:
            self._members = MemberSessions(self.session, self.config.account)
        return self._members

    def backup_in(self, account: str, region: str) -> LocalBackup | None:
        """AWS Backup's jobs and recovery points in an account and Region: the hub's, or a member's
        (its spoke's vault)."""
        if (account, region) == (self.config.account, self.config.region):
            return self.backup
        if not Policy(self.policy).organization.watches(account, region):
            return None
        return self._member_backups.setdefault((account, region), LocalBackup(None, region, account))

    def _assumed_session(self, account: str, region: str, credentials: dict[str, Any]) -> Any:
        """A member account's session from its spoke role's credentials, as the functions get it,
        answering what moto lacks there (AWS Backup's recovery points) from that account's jobs."""
        session = session_of(credentials, region)
        backup = self.backup_in(account, region)
        if backup is not None:
            backup.answer(session)
        return session

    def function_arn(self, function: str) -> str:
        return str(self.settings_of(function).self_arn)

    def settings_of(self, function: str) -> Settings:
        settings = self.settings.of_function(self.config.prefix, self.config.account, self.config.region, function)
        own = self.dead_letter_urls.get(dead_letter_queue_name(self.config.prefix, function))
        return replace(settings, rejects_queue_url=own) if own else settings

    def function_of(self, arn: str) -> str:
        return arn.rsplit(":", 1)[-1].removeprefix(f"{self.config.prefix}-").replace("-", "_")

    def dependencies(self, function: str, clock: Clock) -> Dependencies:
        """What the deployed function would get: its own ARN (for schedules that call it back), the
        world's clients, the event-time clock; pacing waits are recorded instead of slept. Kept per
        function, like a warm Lambda container, until the settings change."""
        settings = self.settings_of(function)
        cached = self._containers.get(function)
        # The drill waits for the pipeline to move; here time moves, and the pipeline runs, when it waits.
        sleep = self.advance if function == "drill" and self.advance is not None else self.waits.append
        if cached is None or cached.settings != settings or cached.clock is not clock or cached.sleep != sleep:
            cached = Dependencies(settings=settings, clock=clock, session=self.session, sleep=sleep,
                                  monotonic=lambda: clock.now().timestamp(),
                                  http_status=lambda url: self.http_answers.get(url, 200),
                                  _clients={"backup": self.backup, "synthetics": self._canary_client(clock),
                                            "sts": self._sts_client()},
                                  assumed_session=self._assumed_session)
            self._containers[function] = cached
        return cached

    def _canary_client(self, clock: Clock) -> Any:
        """Synthetics as the health canary would report it: moto has no GetCanaryRuns, so the call is
        answered (in the API's shape, after botocore validated it) with one run finished a minute ago
        that passed or failed as the world's application answers its health URL."""
        client = self.session.client("synthetics")
        asked: dict[str, Any] = {}

        def remember(params: dict[str, Any], **_: Any) -> None:
            asked.update(params)

        def answer(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
            url = self.config.synthetics["url"]
            status = self.http_answers.get(url, 200)
            passed = 200 <= status < 400
            completed = clock.now() - timedelta(minutes=1)
            run = {"Id": str(uuid.uuid4()), "Name": asked.get("Name"),
                   "Status": {"State": "PASSED" if passed else "FAILED",
                              **({} if passed else {"StateReason": f"RuntimeError: {url}: HTTP {status}"})},
                   "Timeline": {"Started": completed - timedelta(seconds=2), "Completed": completed}}
            return AWSResponse(url, 200, {}, None), {"CanaryRuns": [run]}

        client.meta.events.register("before-parameter-build.synthetics.GetCanaryRuns", remember)
        client.meta.events.register("before-call.synthetics.GetCanaryRuns", answer)
        return client

    def _sts_client(self) -> Any:
        """STS as AWS answers AssumeRole: moto hands out credentials for any role, AWS refuses one that
        does not exist or does not trust the caller's account. A spoke's role is looked up in its
        member account's IAM first (a test deletes one to see the hub fail closed)."""
        client = self.session.client("sts")
        asked: dict[str, Any] = {}

        def remember(params: dict[str, Any], **_: Any) -> None:
            asked.clear()
            asked.update(params)

        def refuse_unknown_roles(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
            role = str(asked.get("RoleArn", ""))
            account, name = role.split(":")[4], role.rsplit("/", 1)[-1]
            with lambda_host.outside_functions():  # AWS's own look, not the calling function's
                try:
                    trust = self.member(account, self.config.region).client("iam").get_role(
                        RoleName=name)["Role"]["AssumeRolePolicyDocument"]
                except ClientError:
                    trust = None
            if trust is not None and f"arn:aws:iam::{self.config.account}:root" in json.dumps(trust):
                return None
            message = (f"User: arn:aws:sts::{self.config.account}:assumed-role/{lambda_host.running_function()} "
                       f"is not authorized to perform: sts:AssumeRole on resource: {role}")
            return (AWSResponse("https://sts.amazonaws.com/", 403, {}, None),
                    {"Error": {"Code": "AccessDenied", "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 403}})

        client.meta.events.register("before-parameter-build.sts.AssumeRole", remember)
        client.meta.events.register("before-call.sts.AssumeRole", refuse_unknown_roles)
        return client

    def forget_container(self, function: str) -> None:
        """The function's container died: its next invocation starts cold."""
        self._containers.pop(function, None)

    def mirror(self, event: Any) -> None:
        """A replayed event is also what happened to the world: an alarm changed state, a backup
        or restore job moved on. Jobs that look at the world (the end-of-window re-check, backup
        freshness, restore validation, the confirmation of claims) see it.

        CloudWatch is the source of truth: an EventBridge alarm event (only AWS can put one) sets
        the emulated alarm's state. An alarm that reaches the replay only through SNS messages or
        direct invocations (claims) takes its state from those; once an authentic event named it,
        claims no longer move it, so a claim CloudWatch contradicts is refused as in AWS."""
        if not isinstance(event, dict):
            return
        if event.get("source") == "aws.backup" and isinstance(event.get("detail"), dict):
            backup = self.backup_in(str(event.get("account")), str(event.get("region")))
            if backup is not None:  # the hub's, or a watched member's: the others are refused
                backup.record(str(event.get("detail-type")), event["detail"])
        # Read as triage reads it (every intake path), so the world and triage never disagree on what
        # an event says.
        for change in alarm_parsing().parse_delivery(event):
            if not isinstance(change, alarm_parsing().AlarmTransition) or change.path in ("backup-check", "coverage-check"):
                continue  # unreadable (triage says why), or one of our virtual alarms
            if change.path == "eventbridge":
                self.authentic_alarms.add(change.alarm_name)
            elif change.alarm_name in self.authentic_alarms:
                continue
            self.set_alarm(change.alarm_name, change.new_state, change.reason, change.changed_at, change.account,
                           change.region)

    def as_announced(self, event: Any) -> None:
        """An "Incident Opened" written by hand (a test, the benchmark) stands for one triage
        announced: what the ledger and CloudWatch would hold by then is put in place (the incident,
        its alarm in ALARM since the change), so remediations confirm it as they would in AWS."""
        if not (isinstance(event, dict) and event.get("detail-type") == INCIDENT_OPENED and event.get("source") == OPS_SOURCE):
            return
        detail = event["detail"]
        changed = parse_timestamp(detail.get("state_changed_at") or event["time"])
        name = detail["alarm_arn"].split(":alarm:", 1)[1]
        incident = keys.incident(detail["incident_id"]).item({
            "id": detail["incident_id"], "severity": detail.get("severity", "P1"), "status": "OPEN",
            "alarm_arn": detail["alarm_arn"], "alarm_name": name, "component": detail.get("component") or "-",
            "opened_at": isoformat(changed), "timeline": []})
        try:
            self.client("dynamodb").put_item(TableName=self.settings.ledger_table, Item=to_item(incident),
                                             ConditionExpression=keys.ABSENT)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return  # announced before: the world has moved on since as the caller made it
        self.authentic_alarms.add(name)
        _, _, _, region, account, _ = detail["alarm_arn"].split(":", 5)
        self.set_alarm(name, "ALARM", "as announced", changed, account, region)

    def set_alarm(self, name: str, state: str, reason: str, changed_at: datetime, account: str | None,
                  region: str | None = None) -> None:
        region = region or self.config.region
        here = (account, region) == (self.config.account, self.config.region)
        member = account is not None and Policy(self.policy).organization.watches(account, region)
        if not (here or member) or len(name) > 255:
            return  # an account the world does not hold, or a name no CloudWatch alarm can have
        assert account is not None
        alarms = cloudwatch_backends[account][region].alarms
        if name not in alarms:
            # An alarm of someone else's in that account, known here only from what was said of it.
            cloudwatch = self.client("cloudwatch") if here else self.member(account, region).client("cloudwatch")
            cloudwatch.put_metric_alarm(
                AlarmName=name, Namespace="Replay/Claimed", MetricName="State", Statistic="Maximum", Period=60,
                EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold")
        alarm = alarms[name]
        alarm.update_state(reason, "{}", state)
        alarm.state_updated_timestamp = changed_at.replace(tzinfo=None)

    def relayed(self, sort_keys: Iterable[str]) -> None:
        """OUTBOX items (by sort key) the stream has delivered already: restored state's."""
        self._relayed.update(sort_keys)

    def pump_outbox(self, invoke: Callable[[str, Any], Any]) -> int:
        """Play the ledger stream's event-source mapping (moto has no DynamoDB Streams reader): each
        new OUTBOX item becomes a stream INSERT record, filtered by the deployed filter and handed to
        the outbox relay in batches; a reported failure is redelivered on the next pump, as Lambda
        retries from it, until its retries are spent: then it goes to the relay's dead-letter queue,
        as the mapping's on-failure destination sends it. Returns how many records were delivered."""
        # The emulator's own table, read in place: a Query of the whole partition after every delivery
        # would cost the replay quadratic time (the partition only grows, as the stream's log does).
        table = dynamodb_backends[self.config.account][self.config.region].get_table(self.settings.ledger_table)
        outbox = table.items.get(DynamoType({"S": keys.OUTBOX}), {})
        new = [item.to_json()["Attributes"] for key, item in sorted(outbox.items(), key=lambda pair: pair[0].value)
               if key.value not in self._relayed]
        records = [stream_record(item, self.config.region, item[keys.SK]["S"]) for item in new]
        records = [r for r in records if _OUTBOX_FILTER.matches_event(r)]  # type: ignore[arg-type]
        delivered = 0
        for start in range(0, len(records), 10):
            batch = records[start:start + 10]
            failures = invoke("outbox_relay", {"Records": batch}).get("batchItemFailures", [])
            failed = {f["itemIdentifier"] for f in failures}
            for record in batch:
                key = record["dynamodb"]["Keys"][keys.SK]["S"]
                if record["dynamodb"]["SequenceNumber"] in failed:
                    self._relay_failures[key] = self._relay_failures.get(key, 0) + 1
                    if self._relay_failures[key] > OUTBOX_RELAY_RETRIES:
                        self._dead_letter(record)
                        self._relayed.add(key)
                    return delivered
                self._relayed.add(key)
                delivered += 1
        return delivered

    def outbox_retrying(self) -> bool:
        """Whether an outbox record failed and awaits the stream's retry (neither sent nor dead-lettered)."""
        return any(key not in self._relayed for key in self._relay_failures)

    def _dead_letter(self, record: dict[str, Any]) -> None:
        """What the stream mapping's on-failure destination receives: where the record was, not the record."""
        sqs = self.client("sqs")
        url = sqs.get_queue_url(QueueName=f"{function_name(self.config.prefix, 'outbox_relay')}-dlq")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({
            "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": OUTBOX_RELAY_RETRIES + 1},
            "DDBStreamBatchInfo": {"startSequenceNumber": record["dynamodb"]["SequenceNumber"],
                                   "endSequenceNumber": record["dynamodb"]["SequenceNumber"], "batchSize": 1}}))


_OUTBOX_FILTER = EventPattern.load(json.dumps(OUTBOX_STREAM_FILTER))


@dataclass(frozen=True)
class AlarmChange:
    name: str
    previous: str
    previous_reason: str
    previous_at: datetime
    state: str
    reason: str


def emit_alarm_changes(world: LocalWorld) -> None:
    """CloudWatch emits a state-change event when SetAlarmState changes an alarm's state; moto does
    not. Each such change is kept for the replay to deliver as CloudWatch's event (the fire drill)."""
    backend = cloudwatch_backends[world.config.account][world.config.region]
    original = backend.set_alarm_state

    def set_alarm_state(alarm_name: str, reason: str, reason_data: str, state_value: str) -> None:
        alarm = backend.alarms.get(alarm_name)
        before = (alarm.state_value, alarm.state_reason, alarm.state_updated_timestamp) if alarm else None
        original(alarm_name, reason, reason_data, state_value)
        if before is not None and before[0] != state_value:
            world.alarm_changes.append(AlarmChange(alarm_name, before[0], before[1], before[2], state_value, reason))

    backend.set_alarm_state = set_alarm_state  # type: ignore[method-assign]  # this world's backend only


def alarm_state_change_event(config: ControlPlaneConfig, change: AlarmChange, at: datetime) -> dict[str, Any]:
    """"CloudWatch Alarm State Change" as CloudWatch puts it on the default bus, for a metric alarm
    (CloudWatch User Guide, *Alarm events and EventBridge*; tests/events/alarm-single-metric.json)."""
    spec = next((a for a in config.alarms if a.name == change.name), None)
    metrics = [] if spec is None else [_event_metric(query) for query in spec.metric_queries()]

    def stamp(moment: datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"

    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch", "account": config.account, "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": config.region, "resources": [config.alarm_arn(change.name)],
        "detail": {
            "alarmName": change.name,
            "configuration": {"description": spec.tagged_description if spec else "", "metrics": metrics},
            "previousState": {"value": change.previous, "reason": change.previous_reason,
                              "timestamp": stamp(change.previous_at.replace(tzinfo=timezone.utc))},
            "state": {"value": change.state, "reason": change.reason, "timestamp": stamp(at)},
        },
    }


def alarm_parsing() -> ModuleType:
    """Triage's own parser, imported as the replay runs the function (its folder on the path)."""
    lambda_host.load_handler("triage")
    return importlib.import_module("alarm_parsing")


class LocalBackup:
    """AWS Backup for the local runtime. moto keeps vaults and plans but has no jobs or recovery
    points: those come from the replayed "Backup Job State Change" and "Restore Job State Change"
    events (as AWS would record them) and from the restore jobs the verifier starts."""

    def __init__(self, client: Any, region: str, account: str) -> None:
        self._client = client
        self._region, self._account = region, account
        self.points: list[dict[str, Any]] = []
        self.restore_jobs: dict[str, dict[str, Any]] = {}
        self.validations: dict[str, tuple[str, str]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def answer(self, session: Any) -> None:
        """Answer ListRecoveryPointsByResource for the clients `session` makes (a member account's),
        as AWS would: the call is still made, so what a function calls there is recorded."""
        asked: dict[str, Any] = {}

        def remember(params: dict[str, Any], **_: Any) -> None:
            asked.clear()
            asked.update(params)

        def points(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
            listing = self.list_recovery_points_by_resource(ResourceArn=str(asked["ResourceArn"]))
            return AWSResponse("https://backup.amazonaws.com/", 200, {}, None), listing | {
                "ResponseMetadata": {"HTTPStatusCode": 200}}

        session.events.register("before-parameter-build.backup.ListRecoveryPointsByResource", remember)
        session.events.register("before-call.backup.ListRecoveryPointsByResource", points)

    def record(self, detail_type: str, detail: dict[str, Any]) -> None:
        if detail_type == "Restore Job State Change":
            self._record_restore_job(detail)
            return
        if detail_type != "Backup Job State Change" or detail.get("state") != "COMPLETED" or not detail.get("resourceArn"):
            return
        job = detail.get("backupJobId", str(len(self.points)))
        self.points.append({
            "RecoveryPointArn": detail.get("recoveryPointArn")
            or f"arn:aws:backup:{self._region}:{self._account}:recovery-point:{job}",
            "ResourceArn": detail["resourceArn"], "ResourceType": detail.get("resourceType"),
            "BackupVaultName": detail.get("backupVaultName"), "Status": "COMPLETED",
            "CreationDate": parse_timestamp(detail["creationDate"])})

    def list_recovery_points_by_resource(self, ResourceArn: str, **_: Any) -> dict[str, Any]:
        return {"RecoveryPoints": [p for p in self.points if p["ResourceArn"] == ResourceArn]}

    def get_recovery_point_restore_metadata(self, **_: Any) -> dict[str, Any]:
        return {"RestoreMetadata": {}}

    def _record_restore_job(self, detail: dict[str, Any]) -> None:
        """A restore job as DescribeRestoreJob would show it, from its state-change event's fields."""
        job_id = detail.get("restoreJobId")
        if not isinstance(job_id, str):
            return
        job = self.restore_jobs.setdefault(job_id, {"RestoreJobId": job_id, "AccountId": self._account})
        fields = {"status": "Status", "statusMessage": "StatusMessage", "resourceType": "ResourceType",
                  "createdResourceArn": "CreatedResourceArn", "sourceResourceArn": "SourceResourceArn",
                  "recoveryPointArn": "RecoveryPointArn", "iamRoleArn": "IamRoleArn"}
        job.update({api: detail[key] for key, api in fields.items() if detail.get(key)})
        for key, api in (("creationDate", "CreationDate"), ("completionDate", "CompletionDate")):
            if isinstance(detail.get(key), str):
                job[api] = parse_timestamp(detail[key])

    def start_restore_job(self, RecoveryPointArn: str, ResourceType: str, IamRoleArn: str = "",
                          **_: Any) -> dict[str, Any]:
        """Accepted, never run: the replay has no data to restore (the tests stub AWS Backup instead).
        Its completion comes, if at all, as a replayed "Restore Job State Change"."""
        job_id = f"local-restore-{len(self.restore_jobs) + 1}"
        source = next((p["ResourceArn"] for p in self.points if p["RecoveryPointArn"] == RecoveryPointArn), None)
        self.restore_jobs[job_id] = {"RestoreJobId": job_id, "AccountId": self._account, "Status": "PENDING",
                                     "RecoveryPointArn": RecoveryPointArn, "ResourceType": ResourceType,
                                     "IamRoleArn": IamRoleArn, **({"SourceResourceArn": source} if source else {})}
        return {"RestoreJobId": job_id}

    def describe_restore_job(self, RestoreJobId: str) -> dict[str, Any]:
        job = self.restore_jobs.get(RestoreJobId)
        if job is None:
            raise ClientError({"Error": {"Code": "ResourceNotFoundException",
                                         "Message": f"Restore job {RestoreJobId} not found"}}, "DescribeRestoreJob")
        return dict(job)

    def put_restore_validation_result(self, RestoreJobId: str, ValidationStatus: str,
                                      ValidationStatusMessage: str = "") -> dict[str, Any]:
        self.describe_restore_job(RestoreJobId)
        self.validations[RestoreJobId] = (ValidationStatus, ValidationStatusMessage)
        return {}

    def list_recovery_points_by_backup_vault(self, BackupVaultName: str, **_: Any) -> dict[str, Any]:
        return {"RecoveryPoints": [p for p in self.points if p.get("BackupVaultName") == BackupVaultName]}


# The demo application's protected resources (tagged with their backup class), for `opsctl replay`.
DEMO_PROTECTED = {"s3": ("data", "full"), "dynamodb": ("orders", "database")}


# Every member account's application keeps one table in the organization's first Region, tagged
# with this backup class (for `opsctl replay` of an organization).
MEMBER_PROTECTED = ("orders", "database")


def _provision_vault_and_plan(session: Any, config: ControlPlaneConfig) -> Any:
    """The vault and the runbook's plan, as the hub's stack and every spoke deploy them."""
    backup_config = config.backup
    backup = session.client("backup")
    backup.create_backup_vault(BackupVaultName=backup_config["vault_name"])
    backup.create_backup_plan(BackupPlan={"BackupPlanName": backup_plan_name(config.prefix), "Rules": [
        {"RuleName": name, "TargetBackupVaultName": backup_config["vault_name"], "ScheduleExpression": spec["schedule"],
         "Lifecycle": {"DeleteAfterDays": spec["retention_days"]}} for name, spec in backup_config["classes"].items()]})
    return backup


def _create_protected_table(session: Any, name: str, tag: str, backup_class: str) -> None:
    session.client("dynamodb").create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST", AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}], Tags=[{"Key": tag, "Value": backup_class}])


def provision_member_backups(members: MemberSessions, config: ControlPlaneConfig, organization: OrganizationPolicy) -> None:
    """Each member account × Region's vault and plan (its spoke's), and each member application's
    protected table in the first Region."""
    for account, name in organization.accounts.items():
        for region in organization.regions:
            _provision_vault_and_plan(members(account, region), config)
        _create_protected_table(members(account, organization.regions[0]),
                                f"{name}-{MEMBER_PROTECTED[0]}", config.backup["tag_key"], MEMBER_PROTECTED[1])


def _provision_backups(session: Any, config: ControlPlaneConfig) -> LocalBackup:
    """The vault and plan the stacks deploy, the configuration bucket and log groups the verifier
    checks, and the demo application's protected resources."""
    backup_config, prefix = config.backup, config.prefix
    backup = _provision_vault_and_plan(session, config)
    s3 = session.client("s3")
    bucket = backup_config["configuration"]["bucket"]
    create_bucket(s3, bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [{
        "ID": "keep-versions", "Status": "Enabled", "Filter": {"Prefix": ""},
        "NoncurrentVersionExpiration": {"NoncurrentDays": backup_config["configuration"]["retention_days"]}}]})
    logs = session.client("logs")
    for application_group in config.investigate["log_groups"]:  # the demo application's, searched by opsctl
        logs.create_log_group(logGroupName=application_group)
    group = f"{backup_config['logs']['log_group_prefix']}triage"
    logs.create_log_group(logGroupName=group)
    logs.put_retention_policy(logGroupName=group, retentionInDays=backup_config["logs"]["retention_days"])
    tag = backup_config["tag_key"]
    create_bucket(s3, f"{prefix}-{DEMO_PROTECTED['s3'][0]}")
    s3.put_bucket_tagging(Bucket=f"{prefix}-{DEMO_PROTECTED['s3'][0]}",
                          Tagging={"TagSet": [{"Key": tag, "Value": DEMO_PROTECTED["s3"][1]}]})
    _create_protected_table(session, f"{prefix}-{DEMO_PROTECTED['dynamodb'][0]}", tag, DEMO_PROTECTED["dynamodb"][1])
    return LocalBackup(backup, config.region, config.account)


def stream_record(item: dict[str, Any], region: str, sequence: str) -> dict[str, Any]:
    """A DynamoDB stream INSERT record for `item`, as Lambda receives it (the item's key stands in
    for the sequence number)."""
    return {
        "eventID": sequence[-40:], "eventName": "INSERT", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": {"Keys": {keys.PK: item[keys.PK], keys.SK: item[keys.SK]}, "NewImage": item, "SequenceNumber": sequence,
                     "SizeBytes": len(json.dumps(item)), "StreamViewType": "NEW_IMAGE"},
    }


def use_fake_credentials() -> None:
    """moto needs some credentials; never let a real profile leak into a local run."""
    for key, value in FAKE_CREDENTIALS.items():
        os.environ[key] = value
    os.environ.pop("AWS_PROFILE", None)


def create_ledger_table(dynamodb: Any, name: str) -> None:
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": attribute, "AttributeType": "S"} for attribute in keys.TABLE_KEYS.values()],
        KeySchema=[{"AttributeName": keys.PK, "KeyType": "HASH"}, {"AttributeName": keys.SK, "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{
            "IndexName": keys.INDEX,
            "KeySchema": [{"AttributeName": keys.INDEX_PK, "KeyType": "HASH"},
                          {"AttributeName": keys.INDEX_SK, "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }],
    )


def provision(config: ControlPlaneConfig, policy: dict[str, Any], workdir: Path | None = None) -> LocalWorld:
    """Create the deployed resources in moto (call inside `mock_aws`): what `opsctl.deployment`
    says a deployment consists of, plus capture queues that see what the control plane sends."""
    session = boto3.session.Session(region_name=config.region)
    if session.client("sts").get_caller_identity()["Account"] != config.account:
        # The config's account is not moto's default: work in it with a role's credentials there
        # (not MOTO_ACCOUNT_ID, which would put every account's resources in that one).
        session = member_session(session, config.account, config.region)
    prefix = config.prefix
    members = MemberSessions(session, config.account)
    dynamodb, sns, sqs, events = (session.client(s) for s in ("dynamodb", "sns", "sqs", "events"))

    create_ledger_table(dynamodb, ledger_table_name(prefix))
    dead_letters = {name: sqs.create_queue(QueueName=name)["QueueUrl"]
                    for name in deployment.dead_letter_queues(prefix, Policy(policy))}

    topics, capture = {}, {}
    for severity in SEVERITIES:
        topic_arn = sns.create_topic(Name=notify_topic(prefix, severity))["TopicArn"]
        for email in config.contacts.get(severity, ()):
            sns.subscribe(TopicArn=topic_arn, Protocol="email", Endpoint=email)
        queue_url = sqs.create_queue(QueueName=f"{prefix}-capture-{severity.lower()}")["QueueUrl"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=_queue_arn(sqs, queue_url))
        topics[severity], capture[severity] = topic_arn, queue_url
    intake = sns.create_topic(Name=intake_topic(prefix))["TopicArn"]
    sns.subscribe(TopicArn=intake, Protocol="lambda", Endpoint=function_arn(config.region, config.account, prefix, "triage"))

    bus = ops_bus_name(prefix)
    events.create_event_bus(Name=bus)
    ops_queue = sqs.create_queue(QueueName=f"{prefix}-capture-ops")["QueueUrl"]
    events.put_rule(Name="capture-all", EventBusName=bus, EventPattern=json.dumps({"source": [{"prefix": ""}]}))
    events.put_targets(Rule="capture-all", EventBusName=bus, Targets=[{"Id": "q", "Arn": _queue_arn(sqs, ops_queue)}])
    waf = Policy(policy).waf
    # A member account's WebACL is its owner's (config: existing_web_acl_id); moto assigns the Id.
    web_acl_id = _provision_waf(members.where(waf.account, waf.region), waf)
    organization = Policy(policy).organization
    if organization.enabled:
        events.create_event_bus(Name=intake_bus_name(prefix))
        provision_spoke_roles(members, config.account, organization)
        provision_member_backups(members, config, organization)
        _provision_spoke_stack_set(session, config, organization)
    policy = _provision_rollback_targets(members, config, policy)
    route_queues, stand_ins = [], {}
    for number, rule in enumerate(deployment.deployed_rules(config, Policy(policy))):
        name = f"route-{number}-{rule.function}"
        events.put_rule(Name=name, EventBusName=rule.bus, EventPattern=json.dumps(rule.pattern))
        target = function_arn(config.region, config.account, prefix, rule.function)
        if rule.bus != deployment.DEFAULT_BUS:
            # moto cannot deliver to a function: a queue stands in for it, and the replay runs the
            # function on what arrives. Nothing is put on the default bus (AWS puts those events).
            queue_url = sqs.create_queue(QueueName=f"{prefix}-{name}")["QueueUrl"]
            target = _queue_arn(sqs, queue_url)
            route_queues.append((rule.function, queue_url))
            stand_ins[target] = function_name(prefix, rule.function)
        events.put_targets(Rule=name, EventBusName=rule.bus, Targets=[{"Id": "function", "Arn": target}])

    scheduler = session.client("scheduler")
    for group in (calendar_group(prefix), checks_group(prefix)):
        scheduler.create_schedule_group(Name=group)
    for schedule in deployment.standing_schedules(config, Policy(policy)):
        scheduler.create_schedule(
            Name=schedule.name, GroupName=schedule.group, ScheduleExpression=schedule.expression,
            ScheduleExpressionTimezone=schedule.timezone or "UTC", FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": function_arn(config.region, config.account, prefix, schedule.function),
                    "Input": json.dumps(schedule.payload),
                    "RoleArn": scheduler_role_arn(config.account, prefix, schedule.function)})
    s3 = session.client("s3")
    for bucket in (f"{prefix}-status", f"{prefix}-reports"):
        create_bucket(s3, bucket)
    local_backup = _provision_backups(session, config)
    _provision_alarms(session, config)
    pagerduty_keys, signing_secrets = _provision_pagerduty(session, config, Policy(policy))
    _provision_drift_rule(session, Policy(policy))

    policy_dir = Path(tempfile.mkdtemp(prefix="opsctl-policy-", dir=workdir))
    policy_path = policy_dir / "policy.json"
    policy_path.write_text(json.dumps(policy), encoding="utf-8")
    settings = Settings(
        ledger_table=ledger_table_name(prefix),
        ops_bus_name=bus,
        notify_topics=topics,
        rejects_queue_url=dead_letters[f"{function_name(prefix, 'triage')}-dlq"],
        policy_path=str(policy_path),
        web_acl_id=web_acl_id,
        schedule_group=checks_group(prefix),
        scheduler_role_arn=None,  # per function (dependencies)
        status_bucket=f"{prefix}-status",
        reports_bucket=f"{prefix}-reports",
        pagerduty_events_url=stand_in().url if pagerduty_keys else None,
    )
    world = LocalWorld(config=config, policy=policy, settings=settings, session=session, _members=members,
                       notification_queues=capture, ops_event_queue=ops_queue, route_queues=route_queues,
                       stand_ins=stand_ins, backup=local_backup,
                       dead_letter_urls=dead_letters,
                       pagerduty_keys=pagerduty_keys, pagerduty_signing_secrets=signing_secrets)
    emit_alarm_changes(world)
    return world


# What AWS Organizations creates in every account it creates: how the world reaches into a member account.
ORGANIZATION_ACCESS_ROLE = "OrganizationAccountAccessRole"


def member_session(session: Any, account: str, region: str) -> Any:
    """A session in a member account and Region (moto keeps each account's resources apart, and runs
    calls made with a role's credentials in that role's account)."""
    credentials = session.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{ORGANIZATION_ACCESS_ROLE}", RoleSessionName="local-world")["Credentials"]
    return session_of(credentials, region)


def _provision_spoke_stack_set(session: Any, config: ControlPlaneConfig, organization: OrganizationPolicy) -> None:
    """The hub stack's service-managed StackSet and its instances in every member account × Region
    (what `opsctl verify` reads). Its template here is a stand-in: the spokes' resources the functions
    use are provisioned above, in each member account. moto resolves an organizational unit's
    accounts from its own organization, whose accounts it names itself: the instances name ours."""
    organizations = session.client("organizations")
    organizations.create_organization(FeatureSet="ALL")
    root = organizations.list_roots()["Roots"][0]["Id"]
    unit = organizations.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"]
    cloudformation = session.client("cloudformation")
    name = spoke_stack_set_name(config.prefix)
    cloudformation.create_stack_set(
        StackSetName=name, PermissionModel="SERVICE_MANAGED", CallAs="DELEGATED_ADMIN",
        AutoDeployment={"Enabled": True, "RetainStacksOnAccountRemoval": False},
        TemplateBody=json.dumps({"Description": "stand-in for the spoke template", "Resources": {}}))
    cloudformation.create_stack_instances(StackSetName=name, Accounts=list(organization.accounts),
                                          DeploymentTargets={"OrganizationalUnitIds": [unit]},
                                          Regions=list(organization.regions), CallAs="DELEGATED_ADMIN")


@dataclass
class MemberSessions:
    """Sessions in member accounts and Regions, each made once (each is an AssumeRole)."""

    session: Any  # the hub's
    hub_account: str
    made: dict[tuple[str, str], Any] = field(default_factory=dict)

    def __call__(self, account: str, region: str) -> Any:
        if (account, region) not in self.made:
            self.made[account, region] = member_session(self.session, account, region)
        return self.made[account, region]

    def where(self, account: str, region: str) -> Any:
        """The session a target in `account` and `region` lives in: the hub's own (config validation
        keeps the hub's targets in its Region), else the member's."""
        return self.session if account == self.hub_account else self(account, region)


def provision_spoke_roles(members: MemberSessions, hub_account: str, organization: OrganizationPolicy) -> None:
    """Each member account's remediation role, as its spoke creates it (stacks/spoke_stack.py): the
    hub's account trusted (the world's STS checks this before handing out credentials)."""
    for account in organization.accounts:
        members(account, organization.regions[0]).client("iam").create_role(
            RoleName=organization.role_name, AssumeRolePolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": f"arn:aws:iam::{hub_account}:root"},
                    "Condition": {"StringEquals": {"aws:PrincipalOrgID": organization.id}}}]}))


def _provision_pagerduty(session: Any, config: ControlPlaneConfig, policy: Policy) -> tuple[dict[str, str], list[str]]:
    """The secrets the platform team puts after deploying: each service's routing key (this world's
    own keys at the stand-in, so worlds never read each other's events) and the signing secrets."""
    services = policy.pagerduty.service_names
    if not services:
        return {}, []
    secrets = session.client("secretsmanager")
    keys_by_service = {service: uuid.uuid4().hex for service in services}
    signing = [f"whsec-{uuid.uuid4().hex}"]
    values: dict[str, dict[str, Any]] = {pagerduty_secret_name(config.prefix, service): {"routing_key": key}
                                         for service, key in keys_by_service.items()}
    values[pagerduty_signing_secret_name(config.prefix)] = {"signing_secrets": signing}
    for name, value in values.items():
        # As deployed: the stack's empty version, then the platform team's.
        secrets.create_secret(Name=name, SecretString=json.dumps({key: type(v)() for key, v in value.items()}))
        secrets.put_secret_value(SecretId=name, SecretString=json.dumps(value))
    return keys_by_service, signing


def _provision_drift_rule(session: Any, policy: Policy) -> None:
    """AWS Config as the drift check needs it: the account's recorder, recording, and our rule."""
    if not policy.drift.enabled:
        return
    aws_config = session.client("config")
    aws_config.put_configuration_recorder(ConfigurationRecorder={
        "name": "default", "roleARN": f"arn:aws:iam::{policy.account}:role/aws-service-role/config.amazonaws.com/"
                                      "AWSServiceRoleForConfig", "recordingGroup": {"allSupported": True}})
    create_bucket(session.client("s3"), f"{policy.prefix}-config-history")
    aws_config.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": f"{policy.prefix}-config-history"})
    aws_config.start_configuration_recorder(ConfigurationRecorderName="default")
    aws_config.put_config_rule(ConfigRule={
        "ConfigRuleName": policy.drift.rule_name, "MaximumExecutionFrequency": policy.drift.frequency,
        "Source": {"Owner": "AWS", "SourceIdentifier": DRIFT_MANAGED_RULE},
        "InputParameters": json.dumps({"cloudformationRoleArn": f"arn:aws:iam::{policy.account}:role/{policy.prefix}-drift"}),
        "Scope": {"ComplianceResourceTypes": ["AWS::CloudFormation::Stack"]}})


def _provision_waf(session: Any, waf: WafPolicy) -> str:
    properties = web_acl_properties(waf)
    wafv2 = session.client("wafv2")
    return str(wafv2.create_web_acl(**properties)["Summary"]["Id"])


def _provision_rollback_targets(members: MemberSessions, config: ControlPlaneConfig,
                                policy: dict[str, Any]) -> dict[str, Any]:
    """The application's deployable targets: a Lambda function with two published versions and its
    alias on the newest, and a static site whose distribution serves `releases/v2/` from S3.
    CloudFront assigns distribution ids, so the policy gets the one it assigned."""
    policy = json.loads(json.dumps(policy))
    roles: dict[str, str] = {}
    for spec in policy["rollback"]["targets"].values():
        # A member account's target lives there (its spoke's role switches it).
        here = members.where(spec["account"], spec["region"])
        if spec["account"] not in roles:
            roles[spec["account"]] = here.client("iam").create_role(
                RoleName=f"{config.prefix}-app-role", AssumeRolePolicyDocument=json.dumps({
                    "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                            "Principal": {"Service": "lambda.amazonaws.com"}}]}))["Role"]["Arn"]
        if spec["kind"] == "lambda-alias":
            _provision_function(here.client("lambda"), spec, roles[spec["account"]])
        else:
            spec["distribution_id"] = _provision_site(here, spec)
    return policy


def _provision_function(client: Any, spec: dict[str, Any], role: str) -> None:
    code = _zip({"index.py": "def handler(event, context):\n    return {'statusCode': 200}\n"})
    client.create_function(FunctionName=spec["function"], Runtime="python3.13", Role=role, Handler="index.handler",
                           Code={"ZipFile": code}, Publish=True)
    client.update_function_code(FunctionName=spec["function"], ZipFile=code, Publish=True)
    client.create_alias(FunctionName=spec["function"], Name=spec["alias"], FunctionVersion="2")


def _provision_site(session: Any, spec: dict[str, Any]) -> str:
    s3 = session.client("s3")
    create_bucket(s3, spec["bucket"])
    for release in ("v1", "v2"):
        s3.put_object(Bucket=spec["bucket"], Key=f"releases/{release}/index.html", Body=f"<h1>{release}</h1>".encode())
    distribution = session.client("cloudfront").create_distribution(DistributionConfig={
        "CallerReference": spec["bucket"], "Comment": "static site", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{
            "Id": spec["origin_id"], "DomainName": f"{spec['bucket']}.s3.amazonaws.com", "OriginPath": "/releases/v2",
            "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
        "DefaultCacheBehavior": {"TargetOriginId": spec["origin_id"], "ViewerProtocolPolicy": "redirect-to-https",
                                 "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"},
        "DefaultRootObject": "index.html",
    })
    return str(distribution["Distribution"]["Id"])


def _zip(files: dict[str, str]) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, body in files.items():
            archive.writestr(name, body)
    return buffer.getvalue()


def create_bucket(s3: Any, bucket: str) -> None:
    """As the stacks' buckets are made: in the client's Region (S3 wants it named outside us-east-1)."""
    region = s3.meta.region_name
    s3.create_bucket(Bucket=bucket, **({} if region == "us-east-1" else
                                       {"CreateBucketConfiguration": {"LocationConstraint": region}}))


def _event_metric(query: dict[str, Any]) -> dict[str, Any]:
    """A metric of PutMetricAlarm's `Metrics` as the alarm event's `configuration.metrics` spells it."""
    if "Expression" in query:
        return {"id": query["Id"], "expression": query["Expression"], "label": query["Label"],
                "returnData": query["ReturnData"]}
    stat = query["MetricStat"]
    return {"id": query["Id"], "returnData": query["ReturnData"], "metricStat": {
        "metric": {"namespace": stat["Metric"]["Namespace"], "name": stat["Metric"]["MetricName"],
                   "dimensions": {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]}},
        "period": stat["Period"], "stat": stat["Stat"]}}


def _provision_alarms(session: Any, config: ControlPlaneConfig) -> None:
    """The stacks' alarms, so jobs that read or retune them (the traffic baseline) find them."""
    cloudwatch = session.client("cloudwatch")
    for spec in config.deployed_alarms:
        if spec.expression is None:
            metric: dict[str, Any] = {
                "Namespace": spec.namespace, "MetricName": spec.metric_name, "Period": spec.period_seconds,
                "Dimensions": [{"Name": k, "Value": v} for k, v in spec.dimensions.items()],
                **({"Statistic": spec.statistic} if not spec.statistic.startswith("p") else
                   {"ExtendedStatistic": spec.statistic})}
        else:
            metric = {"Metrics": spec.metric_queries()}
        cloudwatch.put_metric_alarm(
            AlarmName=spec.name, AlarmDescription=spec.tagged_description, EvaluationPeriods=spec.evaluation_periods,
            Threshold=spec.threshold, ComparisonOperator=spec.comparison, **metric)


def seed_traffic_history(session: Any, config: ControlPlaneConfig, until: datetime, weeks: int,
                         requests_per_period: float) -> None:
    """Normal traffic for the traffic alarm's metric, one datapoint per alarm period over `weeks`
    weeks before `until`: the history the application would have when the control plane arrives."""
    spec = config.alarm("traffic-spike")
    cloudwatch = session.client("cloudwatch")
    dimensions = [{"Name": k, "Value": v} for k, v in spec.dimensions.items()]
    for week in range(1, weeks + 1):
        start = until - timedelta(weeks=week) - timedelta(hours=1)
        data = [{"MetricName": spec.metric_name, "Dimensions": dimensions, "Unit": "Count",
                 "Timestamp": start + timedelta(seconds=spec.period_seconds * i), "Value": requests_per_period}
                for i in range(int(3 * 3600 / spec.period_seconds))]
        for chunk in range(0, len(data), 20):
            cloudwatch.put_metric_data(Namespace=spec.namespace, MetricData=data[chunk:chunk + 20])


def drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Everything waiting on a capture queue, as parsed JSON bodies, deleted once read."""
    bodies: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def _queue_arn(sqs: Any, queue_url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])
