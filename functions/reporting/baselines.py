"""Alarms whose threshold follows their metric's history: the traffic spike (10× normal) and the
performance degradation (response time 50 % worse than the same hour last week).

CloudWatch's metric math cannot shift a series in time, so "the same hour last week" is computed
here, every hour: the median of the alarm's own statistic over that hour of the week, for each of
the last `weeks` weeks, then the median of those; the threshold becomes multiplier × that, never
below the alarm's floor. Too little history → the threshold is left as it is (for the traffic alarm
that means no baseline record, so the WAF does not block: fail closed)."""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from typing import Any

from controlplane.clock import isoformat
from controlplane.policy import Baseline
from controlplane.records import Baselines
from controlplane.remediation import action_note
from controlplane.runtime import Dependencies

# PutMetricAlarm replaces the whole alarm: everything DescribeAlarms gives back that it takes.
_KEEP = ("AlarmName", "AlarmDescription", "ActionsEnabled", "OKActions", "AlarmActions", "InsufficientDataActions",
         "MetricName", "Namespace", "Statistic", "ExtendedStatistic", "Dimensions", "Period", "Unit",
         "EvaluationPeriods", "DatapointsToAlarm", "ComparisonOperator", "TreatMissingData",
         "EvaluateLowSampleCountPercentile")


def retune_all(deps: Dependencies) -> list[dict[str, Any]]:
    now = deps.clock.now().replace(minute=0, second=0, microsecond=0)
    followed = {name: alarm.baseline for name, alarm in deps.policy.alarms.items() if alarm.baseline is not None}
    if not followed:
        return []
    cloudwatch = deps.client("cloudwatch")
    notes = []
    for name, baseline in followed.items():
        found = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
        if not found:
            notes.append(action_note("baseline", name, "failed", "the alarm does not exist: deploy the stack"))
            continue
        notes.append(_retune(deps, cloudwatch, found[0], baseline, now))
    return notes


def _retune(deps: Dependencies, cloudwatch: Any, alarm: dict[str, Any], baseline: Baseline,
            now: datetime) -> dict[str, Any]:
    statistic = alarm.get("Statistic") or alarm["ExtendedStatistic"]
    by_statistic = {"Statistics": [statistic]} if "Statistic" in alarm else {"ExtendedStatistics": [statistic]}
    hours = []
    for weeks_back in range(1, baseline.weeks + 1):
        start = now - timedelta(weeks=weeks_back)
        points = cloudwatch.get_metric_statistics(
            Namespace=alarm["Namespace"], MetricName=alarm["MetricName"], Dimensions=alarm["Dimensions"],
            StartTime=start, EndTime=start + timedelta(hours=1), Period=alarm["Period"], **by_statistic,
        )["Datapoints"]
        values = [p.get(statistic, p.get("ExtendedStatistics", {}).get(statistic)) for p in points]
        if values := [float(v) for v in values if v is not None]:
            hours.append(statistics.median(values))
    name = alarm["AlarmName"]
    if len(hours) < baseline.weeks:
        return action_note("baseline", name, "skipped", f"only {len(hours)} of {baseline.weeks} weeks of history: "
                           f"the threshold stays {alarm['Threshold']:g}")
    value = statistics.median(hours)
    threshold = round(max(value * baseline.multiplier, baseline.min_threshold), 6)
    cloudwatch.put_metric_alarm(**{k: alarm[k] for k in _KEEP if k in alarm}, Threshold=threshold)
    deps.repository(Baselines).write(name, {"value": value, "threshold": threshold, "weeks": len(hours),
                                            "computed_at": isoformat(deps.clock.now())})
    return action_note("baseline", name, "executed", f"same hour over {len(hours)} week(s): {value:g} → threshold "
                       f"{threshold:g} ({baseline.multiplier:g}×, floor {baseline.min_threshold:g})")
