"""An alarm's metric (or formula) over a span of time, as one value per period: what the reports'
trends, the checklists' metric review and `opsctl incident analyze` read. GetMetricData takes the
alarm's own queries (AlarmSpec.metric_queries) with the period replaced, so a formula is computed
over the period's aggregates (an error rate is errors ÷ requests over the whole span, not an average
of rates)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from controlplane.events import DRILL_COMPONENT
from controlplane.policy import AlarmPolicy


def values_by_period(cloudwatch: Any, queries: list[dict[str, Any]] | tuple[dict[str, Any], ...], start: datetime,
                     end: datetime, period_seconds: int) -> dict[datetime, float]:
    """{period start: value}; periods without data are absent. Raises botocore's ClientError."""
    queries = [query | ({"MetricStat": query["MetricStat"] | {"Period": period_seconds}} if "MetricStat" in query else {})
               for query in queries]
    returned = next(query["Id"] for query in queries if query["ReturnData"])
    [result] = [r for r in cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=start,
                                                      EndTime=end)["MetricDataResults"] if r["Id"] == returned]
    return {at: float(value) for at, value in zip(result["Timestamps"], result["Values"], strict=True)}


def runbook_alarm_values(cloudwatch: Any, alarms: dict[str, AlarmPolicy], start: datetime, end: datetime,
                         period_seconds: int) -> Iterator[tuple[str, AlarmPolicy, dict[datetime, float] | None, str]]:
    """(name, alarm, values, error) of each runbook alarm (not the fire drill's), by name: values is
    None, and error says why, when CloudWatch cannot answer for one metric; the others still count."""
    for name, alarm in sorted(alarms.items()):
        if alarm.component == DRILL_COMPONENT:
            continue
        try:
            yield name, alarm, values_by_period(cloudwatch, alarm.metrics, start, end, period_seconds), ""
        except ClientError as error:
            yield name, alarm, None, error.response["Error"].get("Message", str(error))
