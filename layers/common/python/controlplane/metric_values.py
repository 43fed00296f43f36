"""An alarm's metric (or formula) over a span of time, as one value per period: what the reports'
trends and the morning checklist's overnight summary read. GetMetricData takes the alarm's own
queries (AlarmPolicy.metrics) with the period replaced, so a formula is computed over the period's
aggregates (an error rate is errors ÷ requests over the whole span, not an average of rates)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from controlplane.policy import AlarmPolicy


def values_by_period(cloudwatch: Any, alarm: AlarmPolicy, start: datetime, end: datetime,
                     period_seconds: int) -> dict[datetime, float]:
    """{period start: value}; periods without data are absent. Raises botocore's ClientError."""
    queries = [query | ({"MetricStat": query["MetricStat"] | {"Period": period_seconds}} if "MetricStat" in query else {})
               for query in alarm.metrics]
    returned = next(query["Id"] for query in queries if query["ReturnData"])
    [result] = [r for r in cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=start,
                                                      EndTime=end)["MetricDataResults"] if r["Id"] == returned]
    return {at: float(value) for at, value in zip(result["Timestamps"], result["Values"], strict=True)}
