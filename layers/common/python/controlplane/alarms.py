"""What CloudWatch says of one alarm now: the source of truth that claims (SNS messages, direct
invocations, ops-bus hints) are checked against before anything moves."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def current_state(cloudwatch: Any, name: str) -> tuple[str | None, datetime | None]:
    """The state of the alarm of this name in our account and Region, and since when (None, None: no
    such alarm). One DescribeAlarms, metric and composite alarms alike."""
    response = cloudwatch.describe_alarms(AlarmNames=[name], AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    found = response.get("MetricAlarms", []) + response.get("CompositeAlarms", [])
    if not found:
        return None, None
    return str(found[0]["StateValue"]), found[0].get("StateUpdatedTimestamp")
