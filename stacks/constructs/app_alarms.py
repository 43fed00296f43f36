"""The runbook's Key Metrics to Monitor as CloudWatch alarms on the configured application.

Each alarm's description carries its severity, remediation hint and runbook section in an
`[ops: …]` tag, which is how triage knows an alarm's own severity. Each band of an alarm is an alarm
of its own at the band's threshold ({name}-{severity}), which upgrades the alarm's incident."""

from __future__ import annotations

import re

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from controlplane.config import AlarmSpec

_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")  # GreaterThanThreshold → GREATER_THAN_THRESHOLD


class ApplicationAlarms(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, alarms: tuple[AlarmSpec, ...]) -> None:
        super().__init__(scope, construct_id)
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        for spec in alarms:
            self.alarms[spec.key] = cloudwatch.Alarm(
                self, spec.key,
                alarm_name=spec.name,
                alarm_description=spec.tagged_description,
                metric=_metric(spec),
                threshold=spec.threshold,
                comparison_operator=cloudwatch.ComparisonOperator[_SNAKE.sub("_", spec.comparison).upper()],
                evaluation_periods=spec.evaluation_periods,
                # No requests is no spike; for every other metric, missing data is a blind spot
                # that triage must hear about (INSUFFICIENT_DATA), not silence.
                treat_missing_data=(cloudwatch.TreatMissingData.NOT_BREACHING if spec.statistic == "Sum"
                                    else cloudwatch.TreatMissingData.MISSING),
            )


def _metric(spec: AlarmSpec) -> cloudwatch.IMetric:
    period = Duration.seconds(spec.period_seconds)
    if spec.expression is None:
        return cloudwatch.Metric(namespace=spec.namespace, metric_name=spec.metric_name,
                                 dimensions_map=spec.dimensions, statistic=spec.statistic, period=period)
    return cloudwatch.MathExpression(
        expression=spec.expression, label=spec.metric_name, period=period,
        using_metrics={metric.id: cloudwatch.Metric(namespace=metric.namespace, metric_name=metric.name,
                                                    dimensions_map=metric.dimensions, statistic=metric.statistic,
                                                    period=period)
                       for metric in spec.inputs})
