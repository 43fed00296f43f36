"""AWS-shaped alarm events for tests and examples: EventBridge "CloudWatch Alarm State Change"
and SNS-to-Lambda alarm notifications, as AWS delivers them."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from alarm_parsing import AlarmTransition, parse_delivery

ACCOUNT = "123456789012"
REGION = "us-east-1"


def alarm_arn(name: str, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"


def cw_time(moment: datetime) -> str:
    """CloudWatch's spelling: 2026-11-26T09:14:03.123+0000."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def eb_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _reason(state: str, value: float | None, threshold: float | None) -> str:
    if state == "ALARM" and value is not None:
        return (f"Threshold Crossed: 1 out of the last 1 datapoints [{value} ({value_time()})] was greater than "
                f"the threshold ({threshold}) (minimum 1 datapoint for OK -> ALARM transition).")
    if state == "OK":
        return "Threshold Crossed: 1 out of the last 1 datapoints was not greater than the threshold."
    return "Insufficient Data: 1 datapoint was unknown."


def value_time() -> str:
    return "26/11/26 09:13:00"


def eventbridge_alarm(
    name: str,
    state: str,
    changed_at: datetime,
    *,
    previous: str = "OK",
    delivered_at: datetime | None = None,
    description: str = "",
    namespace: str = "AWS/CloudFront",
    metric: str = "5xxErrorRate",
    dimensions: dict[str, str] | None = None,
    value: float | None = 7.2,
    threshold: float = 5.0,
    shape: str = "single",  # single | math | composite
    event_id: str | None = None,
    account: str = ACCOUNT,
) -> dict[str, Any]:
    delivered_at = delivered_at or changed_at + timedelta(seconds=1)
    state_block: dict[str, Any] = {"value": state, "reason": _reason(state, value, threshold),
                                   "timestamp": cw_time(changed_at)}
    if shape != "composite" and value is not None:
        state_block["reasonData"] = json.dumps({
            "version": "1.0", "queryDate": cw_time(changed_at), "statistic": "Average", "period": 60,
            "recentDatapoints": [value], "threshold": threshold,
        })
    metric_stat = {"metric": {"namespace": namespace, "name": metric, "dimensions": dimensions or {}},
                   "period": 60, "stat": "Average"}
    if shape == "single":
        configuration: dict[str, Any] = {"description": description,
                                         "metrics": [{"id": "m1", "metricStat": metric_stat, "returnData": True}]}
    elif shape == "math":
        configuration = {"description": description, "metrics": [
            {"id": "e1", "expression": "m1 * 100", "label": "percent", "returnData": True},
            {"id": "m1", "metricStat": metric_stat, "returnData": False},
        ]}
    else:
        configuration = {"description": description, "alarmRule": f"ALARM({name}-a) OR ALARM({name}-b)",
                         "actionsSuppressor": "", "actionsSuppressorWaitPeriod": 0,
                         "actionsSuppressorExtensionPeriod": 0}
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": account,
        "time": eb_time(delivered_at),
        "region": REGION,
        "resources": [alarm_arn(name, account=account)],
        "detail": {
            "alarmName": name,
            "state": state_block,
            "previousState": {"value": previous, "reason": "previous", "timestamp": cw_time(changed_at - timedelta(minutes=5))},
            "configuration": configuration,
        },
    }


def sns_alarm(
    name: str,
    state: str,
    changed_at: datetime,
    *,
    previous: str = "OK",
    delivered_at: datetime | None = None,
    description: str = "",
    namespace: str = "AWS/CloudFront",
    metric: str = "5xxErrorRate",
    dimensions: dict[str, str] | None = None,
    value: float | None = 7.2,
    threshold: float = 5.0,
    shape: str = "single",
    region_name: str = "US East (N. Virginia)",
    include_arn: bool = True,
    account: str = ACCOUNT,
) -> dict[str, Any]:
    delivered_at = delivered_at or changed_at + timedelta(seconds=2)
    dims = [{"value": v, "name": k} for k, v in (dimensions or {}).items()]
    message: dict[str, Any] = {
        "AlarmName": name,
        "AlarmDescription": description or None,
        "AWSAccountId": account,
        "AlarmConfigurationUpdatedTimestamp": cw_time(changed_at - timedelta(days=3)),
        "NewStateValue": state,
        "NewStateReason": _reason(state, value, threshold),
        "StateChangeTime": cw_time(changed_at),
        "Region": region_name,
        "OldStateValue": previous,
        "OKActions": [],
        "AlarmActions": [f"arn:aws:sns:{REGION}:{ACCOUNT}:financeanalyst-pro-demo-alarm-intake"],
        "InsufficientDataActions": [],
    }
    if include_arn:
        message["AlarmArn"] = alarm_arn(name, account=account)
    if shape == "single":
        message["Trigger"] = {"MetricName": metric, "Namespace": namespace, "StatisticType": "Statistic",
                              "Statistic": "AVERAGE", "Unit": None, "Dimensions": dims, "Period": 60,
                              "EvaluationPeriods": 1, "DatapointsToAlarm": 1,
                              "ComparisonOperator": "GreaterThanThreshold", "Threshold": threshold,
                              "TreatMissingData": "missing", "EvaluateLowSampleCountPercentile": ""}
    elif shape == "math":
        message["Trigger"] = {"Period": 60, "EvaluationPeriods": 1, "ComparisonOperator": "GreaterThanThreshold",
                              "Threshold": threshold, "TreatMissingData": "missing",
                              "EvaluateLowSampleCountPercentile": "", "Metrics": [
                                  {"Expression": "m1 * 100", "Id": "e1", "Label": "percent", "ReturnData": True},
                                  {"Id": "m1", "MetricStat": {"Metric": {"Dimensions": dims, "MetricName": metric,
                                                                         "Namespace": namespace},
                                                              "Period": 60, "Stat": "Average"},
                                   "ReturnData": False}]}
    else:
        message["AlarmRule"] = f"ALARM({name}-a) OR ALARM({name}-b)"
    return {"Records": [{
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:financeanalyst-pro-demo-alarm-intake:{uuid.uuid4()}",
        "Sns": {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:financeanalyst-pro-demo-alarm-intake",
            "Subject": f'{state}: "{name}" in {region_name}'[:100],
            "Message": json.dumps(message),
            "Timestamp": delivered_at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{delivered_at.microsecond // 1000:03d}Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLE",
            "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000.pem",
            "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
            "MessageAttributes": {},
        },
    }]}


def transition_of(event: Any) -> AlarmTransition:
    """The one alarm transition a delivery holds (it must hold one)."""
    result = parse_delivery(event)
    assert len(result) == 1 and isinstance(result[0], AlarmTransition), result
    return result[0]
