"""Parse the native shapes in which alarm state changes reach triage, by its three intake paths.

1. EventBridge "CloudWatch Alarm State Change" on the default bus (single-metric, metric-math,
   anomaly-detection, composite and multi-time-series alarms).
2. SNS-to-Lambda events whose records carry either a CloudWatch alarm notification (alarm actions,
   other accounts: `Region` is a long name, `Trigger` may carry `Metrics` instead of `MetricName`,
   composite alarms carry no `Trigger`) or a whole EventBridge alarm event that a rule forwarded to
   a topic (a common cross-account set-up).
3. The payload CloudWatch sends when an alarm names a Lambda function as its action
   (`source: aws.cloudwatch`, `alarmArn`, `alarmData`).

Security findings on the default bus ("GuardDuty Finding", "Security Hub Findings - Imported") become
transitions of virtual alarms, one per finding, with the runbook's severity for them (P0 Security
Breach, P1 Security Threat), and so do account-specific "AWS Health Event"s (graded by service in
classification), so they are deduplicated, held back by windows, escalated and reported as any
alarm. Only AWS puts them there: the same shapes by any other path are claims, and rejected.

Every input becomes an AlarmTransition, an Ignored (an authentic AWS event that is not an alarm
state change: nothing to keep for a human) or a Rejection with a reason; nothing raises out of here."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from controlplane.clock import isoformat, parse_timestamp
from controlplane.errors import MalformedEvent
from controlplane.events import (
    ALARM_STATE_CHANGE,
    BACKUP_CHECK,
    BACKUP_COMPONENT,
    CONFIG_COMPLIANCE_CHANGE,
    COVERAGE_CHECK,
    COVERAGE_COMPONENT,
    DRIFT_COMPONENT,
    DRIFT_MANAGED_RULE,
    GUARDDUTY_FINDING,
    HEALTH_COMPONENT,
    HEALTH_EVENT,
    OPS_SOURCE,
    SECURITY_HUB_FINDINGS,
)
from controlplane.policy import alarm_arn as arn_of_alarm

STATES = ("ALARM", "OK", "INSUFFICIENT_DATA")
_ALARM_ARN = re.compile(r"^arn:aws[a-z-]*:cloudwatch:([a-z0-9-]+):(\d{12}):alarm:(.{1,255})$")
_REASON_DATAPOINT = re.compile(r"\[(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?) \(")
# A state change reported as happening after it was delivered is a clock or sample error: past this
# much it is taken as the delivery time, or it would make every real transition look older than it.
CLOCK_SKEW_TOLERANCE = timedelta(minutes=5)

# The long names SNS alarm notifications use; only needed when a message carries no AlarmArn.
REGION_BY_LONG_NAME = {
    "US East (N. Virginia)": "us-east-1", "US East (Ohio)": "us-east-2",
    "US West (N. California)": "us-west-1", "US West (Oregon)": "us-west-2",
    "Canada (Central)": "ca-central-1", "EU (Ireland)": "eu-west-1", "EU (London)": "eu-west-2",
    "EU (Paris)": "eu-west-3", "EU (Frankfurt)": "eu-central-1", "EU (Stockholm)": "eu-north-1",
    "EU (Milan)": "eu-south-1", "Europe (Ireland)": "eu-west-1", "Europe (Frankfurt)": "eu-central-1",
    "Asia Pacific (Tokyo)": "ap-northeast-1", "Asia Pacific (Seoul)": "ap-northeast-2",
    "Asia Pacific (Singapore)": "ap-southeast-1", "Asia Pacific (Sydney)": "ap-southeast-2",
    "Asia Pacific (Mumbai)": "ap-south-1", "South America (Sao Paulo)": "sa-east-1",
}


@dataclass(frozen=True)
class AlarmTransition:
    alarm_arn: str
    alarm_name: str
    account: str
    region: str
    new_state: str
    previous_state: str | None
    changed_at: datetime
    delivered_at: datetime
    reason: str
    description: str
    path: str  # "eventbridge" | "sns" | "recheck" | "backup-check" | "coverage-check" | "declared"
    namespace: str | None = None
    metric_name: str | None = None
    dimensions: Mapping[str, str] = field(default_factory=dict)
    composite: bool = False
    datapoint: float | None = None
    # CloudWatch itself held this transition's actions back: a composite alarm's actions suppressor
    # (`actionsSuppressedBy`) or an alarm mute rule (`muteDetail.mutedByArn`). We record, page nobody.
    held_back_by: str | None = None
    # The state-change time as reported, when it was ahead of the delivery (then `changed_at` is the
    # delivery time): kept for dedup, so every path's copy of the same change still matches.
    reported_changed_at: datetime | None = None
    # A security finding's severity, as the runbook grades such findings (classification takes it).
    finding_severity: str | None = None

    @property
    def fingerprint(self) -> str:
        """Dedup key: (alarm ARN, new state, state-change time), whichever path delivered it."""
        key = f"{self.alarm_arn}|{self.new_state}|{isoformat(self.reported_changed_at or self.changed_at)}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    @property
    def clock_skew_seconds(self) -> int | None:
        if self.reported_changed_at is None:
            return None
        return int((self.reported_changed_at - self.changed_at).total_seconds())


@dataclass(frozen=True)
class Rejection:
    reason: str
    record: Any


@dataclass(frozen=True)
class Ignored:
    """An authentic AWS event that is not ours to judge (only AWS can put `aws.*` events on the
    default bus): logged with the reason, never parked for a human, never retried."""

    reason: str
    record: Any


class _NotAnAlarmEvent(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Parsed = AlarmTransition | Rejection | Ignored


def parse_delivery(event: Any) -> list[Parsed]:
    """One Lambda invocation's payload → one result per record it carries."""
    if not isinstance(event, Mapping):
        return [Rejection(f"event is {type(event).__name__}, not an object", event)]
    if "Records" in event:
        records = event["Records"]
        if not isinstance(records, list) or not records:
            return [Rejection("Records is not a non-empty list", event)]
        return [_guarded(_from_sns_record, record) for record in records]
    if "alarmData" in event:
        return [_guarded(_from_alarm_action, event)]
    if event.get("source") == "aws.securityhub" and event.get("detail-type") == SECURITY_HUB_FINDINGS:
        findings = event.get("detail", {}).get("findings") if isinstance(event.get("detail"), Mapping) else None
        if not isinstance(findings, list) or not findings:
            return [Rejection("Security Hub event without findings", event)]
        return [_guarded(lambda finding: _from_security_hub(event, finding), finding) for finding in findings]
    return [_guarded(_from_eventbridge, event)]


def _guarded(parse: Any, record: Any) -> Parsed:
    try:
        return _skew_corrected(parse(record))
    except _NotAnAlarmEvent as ignored:
        return Ignored(ignored.reason, record)
    except MalformedEvent as error:
        return Rejection(error.reason, record)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as error:
        # Shapes we did not anticipate are still rejections with a reason, never crashes.
        return Rejection(f"unreadable alarm event: {type(error).__name__}: {error}"[:500], record)


def _skew_corrected(transition: AlarmTransition) -> AlarmTransition:
    if transition.changed_at - transition.delivered_at <= CLOCK_SKEW_TOLERANCE:
        return transition
    return replace(transition, changed_at=transition.delivered_at, reported_changed_at=transition.changed_at)


def _from_eventbridge(event: Mapping[str, Any], path: str = "eventbridge") -> AlarmTransition:
    source, detail_type = event.get("source"), event.get("detail-type")
    if detail_type == BACKUP_CHECK and source == OPS_SOURCE:
        return _from_check(event, "backup-check", BACKUP_COMPONENT)
    if detail_type == COVERAGE_CHECK and source == OPS_SOURCE:
        return _from_check(event, "coverage-check", COVERAGE_COMPONENT)
    if detail_type == GUARDDUTY_FINDING and source == "aws.guardduty" and path == "eventbridge":
        return _from_guardduty(event)
    if detail_type == HEALTH_EVENT and source == "aws.health" and path == "eventbridge" \
            and isinstance(event.get("detail"), Mapping) and event["detail"].get("eventScopeCode") == "ACCOUNT_SPECIFIC":
        return _from_health(event)
    if detail_type == CONFIG_COMPLIANCE_CHANGE and source == "aws.config" and path == "eventbridge":
        return _from_drift_check(event)
    if detail_type != ALARM_STATE_CHANGE or source != "aws.cloudwatch":
        if isinstance(source, str) and source.startswith("aws.") and isinstance(detail_type, str) and detail_type \
                and path == "eventbridge":
            raise _NotAnAlarmEvent(f"{source} {detail_type!r} is not an alarm state change: nothing to triage")
        raise MalformedEvent(f"unsupported event: source={source!r} detail-type={detail_type!r}")
    detail = _mapping(event, "detail")
    resources = event.get("resources")
    if not isinstance(resources, list) or not resources or not isinstance(resources[0], str):
        raise MalformedEvent("resources does not name the alarm ARN")
    return _from_alarm_detail(detail, resources[0], event.get("account"), event.get("region"),
                              parse_timestamp(_text(event, "time")), path)


def _from_alarm_action(event: Mapping[str, Any]) -> AlarmTransition:
    """The payload of an alarm whose action is this function: the EventBridge detail's fields under
    `alarmData`, the ARN in `alarmArn`."""
    if event.get("source") != "aws.cloudwatch":
        raise MalformedEvent(f"alarm action payload from source={event.get('source')!r}, not aws.cloudwatch")
    return _from_alarm_detail(_mapping(event, "alarmData"), _text(event, "alarmArn"), event.get("accountId"),
                              event.get("region"), parse_timestamp(_text(event, "time")), "lambda")


def _from_alarm_detail(detail: Mapping[str, Any], alarm_arn: str, account: Any, region: Any, delivered_at: datetime,
                       path: str) -> AlarmTransition:
    """The alarm state change EventBridge carries as `detail` and the Lambda action as `alarmData`."""
    state = _mapping(detail, "state")
    previous = detail.get("previousState")
    configuration = detail.get("configuration") or {}
    if not isinstance(configuration, Mapping):
        raise MalformedEvent("configuration is not an object")
    arn_region, arn_account, _name_in_arn = _split_arn(alarm_arn)
    namespace, metric_name, dimensions = _eventbridge_metric(configuration.get("metrics"))
    return AlarmTransition(
        alarm_arn=alarm_arn,
        alarm_name=_text(detail, "alarmName"),
        account=str(account or arn_account),
        region=str(region or arn_region),
        new_state=_state(state.get("value")),
        previous_state=_optional_state(previous.get("value") if isinstance(previous, Mapping) else None),
        changed_at=parse_timestamp(_text(state, "timestamp")),
        delivered_at=delivered_at,
        reason=str(state.get("reason") or ""),
        description=str(configuration.get("description") or ""),
        path=path,
        namespace=namespace,
        metric_name=metric_name,
        dimensions=dimensions,
        composite="alarmRule" in configuration,
        datapoint=_datapoint_from_reason_data(state.get("reasonData")),
        held_back_by=_held_back_by(detail, state),
    )


def _held_back_by(detail: Mapping[str, Any], state: Mapping[str, Any]) -> str | None:
    """What CloudWatch says held this transition's actions back, if anything. The suppression of a
    composite alarm rides on its state; a mute rule's detail is looked for beside it too."""
    suppressed = state.get("actionsSuppressedBy") or detail.get("actionsSuppressedBy")
    if isinstance(suppressed, str) and suppressed:
        why = state.get("actionsSuppressedReason") or detail.get("actionsSuppressedReason") or ""
        return f"CloudWatch actions suppressor ({suppressed}{': ' + str(why)[:200] if why else ''})"
    for holder in (state, detail):
        mute = holder.get("muteDetail")
        if isinstance(mute, Mapping) and mute.get("mutedByArn"):
            window = " ".join(str(mute[k]) for k in ("muteWindowStart", "muteWindowEnd") if mute.get(k))
            return f"CloudWatch alarm mute rule {str(mute['mutedByArn'])[:300]}" + (f" ({window})" if window else "")
    return None


def _from_sns_record(record: Any) -> AlarmTransition:
    if not isinstance(record, Mapping) or record.get("EventSource") != "aws:sns":
        raise MalformedEvent("record is not an SNS delivery (EventSource != aws:sns)")
    sns = _mapping(record, "Sns")
    try:
        message = json.loads(_text(sns, "Message"))
    except json.JSONDecodeError as error:
        raise MalformedEvent(f"SNS message is not JSON: {error.msg}") from error
    if isinstance(message, Mapping) and "detail-type" in message:
        # A whole EventBridge event that a rule forwarded to a topic: an alarm event like any other,
        # but it reached us through SNS, so it is a claim like any SNS message.
        return _from_eventbridge(message, path="sns")
    if not isinstance(message, Mapping) or "NewStateValue" not in message:
        raise MalformedEvent("SNS message is not a CloudWatch alarm notification (no NewStateValue)")
    name = _text(message, "AlarmName")
    alarm_arn = message.get("AlarmArn")
    if not alarm_arn:
        region_name = _text(message, "Region")
        if region_name not in REGION_BY_LONG_NAME:
            raise MalformedEvent(f"no AlarmArn and unknown Region {region_name!r}")
        alarm_arn = arn_of_alarm(REGION_BY_LONG_NAME[region_name], _text(message, "AWSAccountId"), name)
    region, account, _ = _split_arn(str(alarm_arn))
    trigger = message.get("Trigger")
    namespace, metric_name, dimensions = _sns_metric(trigger if isinstance(trigger, Mapping) else None)
    return AlarmTransition(
        alarm_arn=str(alarm_arn),
        alarm_name=name,
        account=str(message.get("AWSAccountId") or account),
        region=region,
        new_state=_state(message.get("NewStateValue")),
        previous_state=_optional_state(message.get("OldStateValue")),
        changed_at=parse_timestamp(_text(message, "StateChangeTime")),
        delivered_at=parse_timestamp(_text(sns, "Timestamp")),
        reason=str(message.get("NewStateReason") or ""),
        description=str(message.get("AlarmDescription") or ""),
        path="sns",
        namespace=namespace,
        metric_name=metric_name,
        dimensions=dimensions,
        composite="AlarmRule" in message or trigger is None,
        datapoint=_datapoint_from_reason(str(message.get("NewStateReason") or "")),
    )


def _from_check(event: Mapping[str, Any], path: str, component: str) -> AlarmTransition:
    """A finding of one of our checks, as the virtual alarm `alarm_name`: a backup check's
    (functions/backup_verify) or the organization's coverage check's (functions/coverage)."""
    detail = _mapping(event, "detail")
    name = _text(detail, "alarm_name")
    # The check names its account and Region itself: the ops bus is ours, whoever relays the event.
    account, region = _text(detail, "account"), _text(detail, "region")
    return AlarmTransition(
        alarm_arn=arn_of_alarm(region, account, name),
        alarm_name=name,
        account=account,
        region=region,
        new_state=_state(detail.get("state")),
        previous_state=None,
        changed_at=parse_timestamp(_text(detail, "observed_at")),
        delivered_at=parse_timestamp(_text(event, "time")),
        reason=str(detail.get("reason") or ""),
        description=str(detail.get("description") or ""),
        path=path,
        namespace=component,
        metric_name=str(detail.get("check") or "") or None,
        dimensions={"Resource": str(detail.get("resource_arn") or "")},
    )


# GuardDuty's severity (0.1–8.9, plus 9–10 for attack sequences) → the runbook's: High (7 and up) is
# a Security Breach (P0), Medium (4–6.9) a Security Threat (P1), Low informational (P3).
def guardduty_severity(score: float) -> str:
    return "P0" if score >= 7 else "P1" if score >= 4 else "P3"


# Security Hub's severity labels → the runbook's; the rule routes only CRITICAL and HIGH to us.
SECURITY_HUB_SEVERITY = {"CRITICAL": "P0", "HIGH": "P1", "MEDIUM": "P2", "LOW": "P3", "INFORMATIONAL": "P3"}
# Workflow states that mean the finding still wants a human; the others (RESOLVED, SUPPRESSED) end it.
SECURITY_HUB_OPEN = ("NEW", "NOTIFIED")


# AWS Config's verdicts on a stack → the drift alarm's state (NOT_APPLICABLE: no verdict at all).
DRIFT_STATES = {"NON_COMPLIANT": "ALARM", "COMPLIANT": "OK", "INSUFFICIENT_DATA": "INSUFFICIENT_DATA"}
_STACK_ARN = re.compile(r"^arn:aws[a-z-]*:cloudformation:[a-z0-9-]+:\d{12}:stack/([^/]+)/")


def _from_drift_check(event: Mapping[str, Any]) -> AlarmTransition:
    """AWS Config's drift check of one stack (our rule: the EventBridge rule takes no other): ALARM
    while it has drifted from its template, OK once in sync again; a check that could not run is
    INSUFFICIENT_DATA (a blind spot)."""
    detail = _mapping(event, "detail")
    result = _mapping(detail, "newEvaluationResult")
    verdict = _text(result, "complianceType")
    if verdict not in DRIFT_STATES:
        raise _NotAnAlarmEvent(f"AWS Config's drift check says {verdict}: no verdict on the stack")
    stack_id = _text(detail, "resourceId")
    matched = _STACK_ARN.match(stack_id)
    stack = matched.group(1) if matched else stack_id
    said = str(result.get("annotation") or "")
    return _virtual_alarm(
        event, name=f"drift {stack[:200]}", account=str(detail.get("awsAccountId") or _text(event, "account")),
        region=str(detail.get("awsRegion") or _text(event, "region")), state=DRIFT_STATES[verdict],
        changed_at=parse_timestamp(str(result.get("resultRecordedTime") or _text(event, "time"))),
        reason=f"AWS Config ({_text(detail, 'configRuleName')}): {verdict}{': ' + said if said else ''}",
        namespace=DRIFT_COMPONENT, kind=DRIFT_MANAGED_RULE, dimensions={"Stack": stack})


def _virtual_alarm(event: Mapping[str, Any], *, name: str, account: str, region: str, state: str,
                   changed_at: datetime, reason: str, namespace: str, kind: str, severity: str | None = None,
                   dimensions: Mapping[str, str] | None = None) -> AlarmTransition:
    """An AWS event on the default bus as the transition of a virtual alarm named after its subject."""
    return AlarmTransition(
        alarm_arn=arn_of_alarm(region, account, name), alarm_name=name, account=account, region=region,
        new_state=state, previous_state=None, changed_at=changed_at, delivered_at=parse_timestamp(_text(event, "time")),
        reason=reason[:1000], description="", path="eventbridge", namespace=namespace, metric_name=kind[:255],
        dimensions=dimensions or {}, finding_severity=severity)


def _from_guardduty(event: Mapping[str, Any]) -> AlarmTransition:
    """A GuardDuty finding (created, or updated with a new count): ALARM until archived."""
    detail = _mapping(event, "detail")
    finding_id, kind = _text(detail, "id"), _text(detail, "type")
    score = detail.get("severity")
    if not isinstance(score, (int, float)) or isinstance(score, bool):
        raise MalformedEvent("detail.severity is not a number")
    archived = isinstance(detail.get("service"), Mapping) and detail["service"].get("archived") is True
    return _virtual_alarm(
        event, name=f"GuardDuty {kind[:180]} {finding_id[:32]}", account=_text(detail, "accountId"),
        region=_text(detail, "region"), state="OK" if archived else "ALARM",
        changed_at=parse_timestamp(_text(detail, "updatedAt")),
        reason=f"{detail.get('title') or kind} (severity {score}): {detail.get('description') or ''}",
        namespace="GuardDuty", kind=kind, severity=guardduty_severity(float(score)))


def _from_security_hub(event: Mapping[str, Any], finding: Any) -> AlarmTransition:
    """One finding of a "Security Hub Findings - Imported" event: ALARM while its workflow is NEW or
    NOTIFIED and its record active; OK once resolved, suppressed or archived."""
    if not isinstance(finding, Mapping):
        raise MalformedEvent("a Security Hub finding is not an object")
    severity = _mapping(finding, "Severity").get("Label")
    if severity not in SECURITY_HUB_SEVERITY:
        raise MalformedEvent(f"Security Hub severity label {severity!r} is not one of {', '.join(SECURITY_HUB_SEVERITY)}")
    workflow = finding.get("Workflow", {}).get("Status") if isinstance(finding.get("Workflow"), Mapping) else None
    active = finding.get("RecordState", "ACTIVE") == "ACTIVE" and (workflow or "NEW") in SECURITY_HUB_OPEN
    finding_id, title = _text(finding, "Id"), _text(finding, "Title")
    short = hashlib.sha256(finding_id.encode()).hexdigest()[:12]  # ids are ARNs: too long to name an alarm
    return _virtual_alarm(
        event, name=f"Security Hub {title[:180]} {short}", account=_text(finding, "AwsAccountId"),
        region=str(finding.get("Region") or _text(event, "region")), state="ALARM" if active else "OK",
        changed_at=parse_timestamp(_text(finding, "UpdatedAt")), reason=f"{title} ({severity}, {workflow or 'NEW'}): {finding_id}",
        namespace="Security Hub", kind=str(finding.get("GeneratorId") or title), severity=SECURITY_HUB_SEVERITY[severity])


def _from_health(event: Mapping[str, Any]) -> AlarmTransition:
    """An account-specific AWS Health event: ALARM while open (or upcoming, for a scheduled change),
    OK once closed. Classification grades it by service (classification.classify)."""
    detail = _mapping(event, "detail")
    service, code, category = _text(detail, "service"), _text(detail, "eventTypeCode"), _text(detail, "eventTypeCategory")
    status = _text(detail, "statusCode")
    if status not in ("open", "upcoming", "closed"):
        raise MalformedEvent(f"AWS Health statusCode {status!r} is not open, upcoming or closed")
    account = str(detail.get("affectedAccount") or _text(event, "account"))
    region = str(detail.get("eventRegion") or _text(event, "region"))
    short = hashlib.sha256(_text(detail, "eventArn").encode()).hexdigest()[:12]
    descriptions = detail.get("eventDescription")
    said = descriptions[0].get("latestDescription", "") if isinstance(descriptions, list) and descriptions \
        and isinstance(descriptions[0], Mapping) else ""
    updated = str(detail.get("lastUpdatedTime") or _text(detail, "startTime"))
    # When a scheduled change happens (its end may not be known yet): for the calendar.
    when = {"Starts": isoformat(_http_date(_text(detail, "startTime")))} if category == "scheduledChange" else {}
    if when and detail.get("endTime"):
        when["Ends"] = isoformat(_http_date(str(detail["endTime"])))
    return _virtual_alarm(
        event, name=f"AWS Health {service} {code[:150]} {short}", account=account, region=region,
        state="OK" if status == "closed" else "ALARM", changed_at=_http_date(updated),
        reason=f"{code} ({category}, {status}): {said}", namespace=HEALTH_COMPONENT, kind=code,
        dimensions={"Service": service, "Category": category, **when})


def _http_date(text: str) -> datetime:
    """AWS Health writes its times as HTTP dates ("Fri, 27 Jan 2023 09:01:22 GMT")."""
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError) as error:
        raise MalformedEvent(f"unreadable AWS Health time {text!r}") from error


def from_described_alarm(alarm: Mapping[str, Any], composite: bool, looked_at: datetime) -> AlarmTransition:
    """An alarm as DescribeAlarms shows it, as the transition that put it in its current state (the
    end-of-window re-check looks at alarms rather than receiving their events)."""
    region, account, _ = _split_arn(str(alarm["AlarmArn"]))
    changed = alarm["StateUpdatedTimestamp"]
    return AlarmTransition(
        alarm_arn=str(alarm["AlarmArn"]),
        alarm_name=str(alarm["AlarmName"]),
        account=account,
        region=region,
        new_state=_state(alarm.get("StateValue")),
        previous_state=None,
        changed_at=changed if isinstance(changed, datetime) else parse_timestamp(str(changed)),
        delivered_at=looked_at,
        reason=str(alarm.get("StateReason") or ""),
        description=str(alarm.get("AlarmDescription") or ""),
        path="recheck",
        namespace=alarm.get("Namespace"),
        metric_name=alarm.get("MetricName"),
        dimensions={d["Name"]: d["Value"] for d in alarm.get("Dimensions") or []},
        composite=composite,
        datapoint=_datapoint_from_reason_data(alarm.get("StateReasonData")),
    )


def _eventbridge_metric(metrics: Any) -> tuple[str | None, str | None, dict[str, str]]:
    """The first metric with a MetricStat (metric-math alarms list expressions beside them)."""
    if not isinstance(metrics, list):
        return None, None, {}
    for entry in metrics:
        stat = entry.get("metricStat") if isinstance(entry, Mapping) else None
        metric = stat.get("metric") if isinstance(stat, Mapping) else None
        if isinstance(metric, Mapping):
            dimensions = metric.get("dimensions") or {}
            return (
                _optional_text(metric.get("namespace")),
                _optional_text(metric.get("name")),
                {str(k): str(v) for k, v in dimensions.items()} if isinstance(dimensions, Mapping) else {},
            )
    return None, None, {}


def _sns_metric(trigger: Mapping[str, Any] | None) -> tuple[str | None, str | None, dict[str, str]]:
    if trigger is None:
        return None, None, {}
    if trigger.get("MetricName"):
        return (
            _optional_text(trigger.get("Namespace")),
            _optional_text(trigger.get("MetricName")),
            _sns_dimensions(trigger.get("Dimensions")),
        )
    for entry in trigger.get("Metrics") or []:
        stat = entry.get("MetricStat") if isinstance(entry, Mapping) else None
        metric = stat.get("Metric") if isinstance(stat, Mapping) else None
        if isinstance(metric, Mapping):
            return (
                _optional_text(metric.get("Namespace")),
                _optional_text(metric.get("MetricName")),
                _sns_dimensions(metric.get("Dimensions")),
            )
    return None, None, {}


def _sns_dimensions(raw: Any) -> dict[str, str]:
    if not isinstance(raw, list):
        return {}
    pairs = {}
    for entry in raw:
        if isinstance(entry, Mapping):
            # Alarm notifications spell these "name"/"value"; the metric API spells them "Name"/"Value".
            key = entry.get("name", entry.get("Name"))
            value = entry.get("value", entry.get("Value"))
            if key is not None:
                pairs[str(key)] = str(value)
    return pairs


def _datapoint_from_reason_data(reason_data: Any) -> float | None:
    if not isinstance(reason_data, str):
        return None
    try:
        data = json.loads(reason_data)
        points = data.get("recentDatapoints") if isinstance(data, Mapping) else None
        return float(points[0]) if isinstance(points, list) and points else None
    except (json.JSONDecodeError, TypeError, ValueError):
        return None


def _datapoint_from_reason(reason: str) -> float | None:
    match = _REASON_DATAPOINT.search(reason)
    return float(match.group(1)) if match else None


def _split_arn(arn: str) -> tuple[str, str, str]:
    match = _ALARM_ARN.match(arn)
    if not match:
        raise MalformedEvent(f"not a CloudWatch alarm ARN: {arn[:300]!r}")
    return match.group(1), match.group(2), match.group(3)


def _mapping(parent: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = parent.get(key)
    if not isinstance(value, Mapping):
        raise MalformedEvent(f"{key} is missing or not an object")
    return value


def _text(parent: Mapping[str, Any], key: str) -> str:
    value = parent.get(key)
    if not isinstance(value, str) or not value.strip():
        raise MalformedEvent(f"{key} is missing or not a non-empty string")
    return value


def _optional_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _state(value: Any) -> str:
    if value not in STATES:
        raise MalformedEvent(f"unknown alarm state {value!r}")
    return str(value)


def _optional_state(value: Any) -> str | None:
    return str(value) if value in STATES else None
