"""The validated config: what synth builds the stacks from and compiles the policy from."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from typing import Any

from controlplane.alarm_tags import format_tags
from controlplane.config.compiler import compile_policy
from controlplane.policy import alarm_arn

FORMULA_ID = "formula"  # the id of a metric-math alarm's formula among its metrics; no input may take it


@dataclass(frozen=True)
class MetricInput:
    """One metric a metric-math alarm's formula reads, by its id in the formula."""
    id: str
    namespace: str
    name: str
    statistic: str
    dimensions: dict[str, str]


@dataclass(frozen=True)
class AlarmSpec:
    key: str
    name: str
    description: str
    namespace: str
    metric_name: str
    statistic: str
    period_seconds: int
    dimensions: dict[str, str]
    comparison: str
    threshold: float
    evaluation_periods: int
    severity: str
    remediation: str
    component: str
    impact: str
    runbook_section: str
    bands: tuple[dict[str, Any], ...]
    # Set for an alarm given as baseline × multiplier (the traffic alarm, performance degradation):
    # every hour the reporting function's baseline job takes the median of the same hour of the week
    # over the last `baseline_weeks` weeks and sets the threshold to multiplier × that, never below
    # `min_threshold`.
    multiplier: float | None = None
    baseline_weeks: int | None = None
    min_threshold: float | None = None
    band_of: str | None = None  # a band's alarm: the key of the alarm whose incident it upgrades
    # A metric-math alarm (an error *rate*, storage used as a share of what is allocated): the formula
    # over `inputs`. Then `metric_name` is the formula's label and `namespace` its first input's.
    expression: str | None = None
    inputs: tuple[MetricInput, ...] = ()

    @property
    def watched(self) -> tuple[MetricInput, ...]:
        """The CloudWatch metrics the alarm reads: its one metric, or its formula's inputs."""
        if self.expression is None:
            return (MetricInput("m1", self.namespace, self.metric_name, self.statistic, self.dimensions),)
        return self.inputs

    def metric_queries(self) -> list[dict[str, Any]]:
        """The alarm's metrics as CloudWatch's API takes them (PutMetricAlarm's and GetMetricData's
        `Metrics`): the formula, returned, and its inputs, not returned."""
        returned: list[dict[str, Any]] = [] if self.expression is None else [
            {"Id": FORMULA_ID, "Expression": self.expression, "Label": self.metric_name, "ReturnData": True}]
        return returned + [{
            "Id": metric.id, "ReturnData": self.expression is None,
            "MetricStat": {"Metric": {"Namespace": metric.namespace, "MetricName": metric.name,
                                      "Dimensions": [{"Name": k, "Value": v} for k, v in metric.dimensions.items()]},
                           "Period": self.period_seconds, "Stat": metric.statistic}} for metric in self.watched]

    def band_alarms(self) -> tuple[AlarmSpec, ...]:
        """One CloudWatch alarm per band, named {name}-{severity} (…-error-rate-p1). CloudWatch sends
        nothing while an alarm stays in ALARM, so a signal that keeps rising is heard only through an
        alarm at the band's threshold; triage then upgrades the base alarm's incident."""
        return tuple(replace(self, key=f"{self.key}-{band['severity'].lower()}", name=f"{self.name}-{band['severity'].lower()}",
                             description=f"{self.description} ({band['severity']} band)",
                             threshold=band["above"] if "above" in band else band["below"], severity=band["severity"],
                             bands=(), band_of=self.key) for band in self.bands)

    @property
    def metric_label(self) -> str:
        """What the alarm watches, for people: `AWS/CloudFront OriginLatency p90` or the formula."""
        if self.expression is None:
            return f"{self.namespace} {self.metric_name} {self.statistic}"
        return f"{self.metric_name} = {self.expression}"

    @property
    def tagged_description(self) -> str:
        """The alarm description, carrying the alarm's own severity for triage."""
        return format_tags(self.description, severity=self.severity, remediation=self.remediation,
                           runbook=self.runbook_section)


@dataclass(frozen=True)
class ControlPlaneConfig:
    app: str
    environment: str
    account: str
    region: str
    timezone: str
    runbook_url: str
    severities: dict[str, dict[str, Any]]
    contacts: dict[str, tuple[str, ...]]
    alarms: tuple[AlarmSpec, ...]
    classification: dict[str, Any]
    triage: dict[str, int]
    schedules: dict[str, str]
    guardrails: dict[str, int]
    capabilities: dict[str, dict[str, Any]]
    waf: dict[str, Any]
    rollback: dict[str, Any]
    maintenance: dict[str, Any]
    escalation: dict[str, Any]
    status_page: dict[str, Any]
    reports: dict[str, Any]
    backup: dict[str, Any]
    intake: dict[str, Any]
    deployers: tuple[str, ...]
    drill: dict[str, Any]
    investigate: dict[str, Any]
    noise: dict[str, Any]
    # Channels besides email (`contacts`): {"sms": {severity: phones}, "slack": {severity: channel ids},
    # "slack_workspace_id": …, "pagerduty": {severity: service names}, "pagerduty_region": "us" | "eu"}
    notifications: dict[str, Any]
    drift: dict[str, Any]  # {"enabled", "stacks": the application's stacks to watch, "frequency": AWS Config's}
    synthetics: dict[str, Any]  # {"enabled", "canary_name", "url", "every_minutes", "timeout_seconds"}
    # {"enabled", "id", "units", "regions", "accounts": {id: name}, "heartbeat_minutes", "quiet_minutes"}
    organization: dict[str, Any]

    @property
    def prefix(self) -> str:
        return f"{self.app}-{self.environment}"

    def alarm_arn(self, name: str) -> str:
        return alarm_arn(self.region, self.account, name)

    def policy(self) -> dict[str, Any]:
        """What the Lambdas read at run time; its hash is the config version in decision records."""
        return compile_policy(self)

    @property
    def version(self) -> str:
        """Hash of the whole validated config: any change to it, deployed or not, is a new version."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]

    def alarm(self, key: str) -> AlarmSpec:
        return next(spec for spec in self.alarms if spec.key == key)

    @property
    def deployed_alarms(self) -> tuple[AlarmSpec, ...]:
        """Every CloudWatch alarm the stacks create for the application: each configured one and its bands'."""
        return tuple(alarm for spec in self.alarms for alarm in (spec, *spec.band_alarms()))

