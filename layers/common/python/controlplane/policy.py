"""The compiled policy: the validated config as synth wrote it (controlplane.config.compiler).

Lambdas only `json.load` it; all parsing and validation happened at synth. Its sections are read as
typed, frozen objects (below): the one contract between synth, the Lambdas and opsctl."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from types import UnionType
from typing import Any, Generic, TypeVar, get_args, get_origin, get_type_hints


def alarm_arn(region: str, account: str, name: str) -> str:
    """An alarm's identity: account, Region and name (a name alone may be anyone's)."""
    return f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"


# --- typed sections: the policy's contract, read as attributes, never by string key ---------------

class Section:
    """A typed, read-only section of the policy, its fields declared by annotation (a class value is
    the default). Plain classes rather than dataclasses: two dozen dataclasses cost every Lambda
    about 18 ms of cold import (each writes its methods with exec); these cost nothing until read."""

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    __hash__ = None  # type: ignore[assignment]  # equal by value, and holds dicts

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


class CapabilityPolicy(Section):
    mode: str  # enforce | dry-run
    cooldown_minutes: int
    max_toggles_per_hour: int
    min_write_interval_seconds: int


class GuardrailLimits(Section):
    max_event_age_minutes: int
    action_budget_per_hour: int
    outcome_check_minutes: int


class WafPolicy(Section):
    web_acl_name: str
    rule_name: str
    existing_web_acl_id: str | None
    # CLOUDFRONT | REGIONAL. Either way the WebACL lives in the stack's own Region (config validation
    # holds a CLOUDFRONT one to us-east-1).
    scope: str
    protects: tuple[str, ...]  # REGIONAL: the resources the stack associates it with
    limit: int
    evaluation_window_seconds: int
    aggregate_key: str
    block_action: str  # BLOCK | CHALLENGE | CAPTCHA
    trigger_alarms: tuple[str, ...]  # alarm names, in the WebACL's account and Region
    hold_minutes: int
    normal_periods: int
    traffic_alarm: str
    traffic_alarm_arn: str
    # The hub's traffic alarm's threshold is this × the baseline; None: a member account's own alarm,
    # whose threshold its owner sets.
    traffic_multiplier: float | None
    trigger_alarm_arns: tuple[str, ...]
    alarm_period_seconds: int
    side_effect_alarms: tuple[str, ...]  # alarms our own block sets off: they join, never page
    # Where the WebACL is: the hub's account and Region, or a member's (acted on through its spoke role).
    account: str
    region: str


class RollbackTarget(Section):
    kind: str  # lambda-alias | static-site
    alarms: tuple[str, ...]
    alarm_arns: tuple[str, ...]  # its alarms in its own account and Region
    account: str  # where it lives: the hub's, or a member account's (acted on through its spoke role)
    region: str
    function: str | None = None
    alias: str | None = None
    distribution_id: str | None = None
    origin_id: str | None = None
    bucket: str | None = None
    entry_paths: tuple[str, ...] | None = None


class RollbackPolicy(Section):
    severities: tuple[str, ...]
    bake_minutes: int
    outcome_minutes: int
    targets: dict[str, RollbackTarget]


class SeverityLevel(Section):
    name: str
    response_minutes: int
    escalation: str  # who it escalates to (the runbook's severity matrix)
    description: str


class EscalationPolicy(Section):
    max_levels: int
    resolve_minutes: dict[str, int]  # severity → resolution target
    max_unclassified_severity: str  # the highest level an incident nobody classified escalates to


class Band(Section):
    """A datapoint beyond `above` (or under `below`) raises the alarm's incident to `severity`."""

    severity: str
    above: float | None = None
    below: float | None = None


class Baseline(Section):
    """An alarm whose threshold follows its metric's history (see AlarmSpec.multiplier)."""

    multiplier: float
    weeks: int
    min_threshold: float


class AlarmPolicy(Section):
    key: str
    severity: str
    namespace: str
    bands: tuple[Band, ...]
    threshold: float
    comparison: str
    baseline: Baseline | None
    metrics: tuple[dict[str, Any], ...]  # what it watches, as GetMetricData's queries (AlarmSpec.metric_queries)
    metric_label: str
    remediation: str
    component: str
    impact: str
    runbook_section: str


class BandAlarm(Section):
    """The alarm at one band's threshold: it upgrades `alarm`'s incident to `severity`."""

    alarm: str
    severity: str


class ClassificationRule(Section):
    name: str
    severity: str
    alarm_name: str | None = None  # a regular expression
    namespace: str | None = None
    metric: str | None = None
    remediation: str | None = None
    component: str | None = None
    impact: str | None = None
    runbook_section: str | None = None


class ClassificationPolicy(Section):
    default_severity: str
    rules: tuple[ClassificationRule, ...]


class AccountTrust(Section):
    trust_tags: bool = False


class IntakePolicy(Section):
    allowed_accounts: dict[str, AccountTrust]
    suspicious_claims_per_hour: int


class OrganizationPolicy(Section):
    """The member accounts the hub watches through their spokes (organization: in the config)."""
    enabled: bool
    id: str | None
    units: tuple[str, ...]
    regions: tuple[str, ...]
    accounts: dict[str, str]  # account id → name
    heartbeat_minutes: int
    quiet_minutes: int
    role_name: str  # the spoke's remediation role, the same name in every member account

    def role_arn(self, account: str) -> str:
        return f"arn:aws:iam::{account}:role/{self.role_name}"

    def watches(self, account: str, region: str) -> bool:
        return account in self.accounts and region in self.regions

    def where(self, account: str, region: str) -> str:
        """An account and Region as people name them: `payments-prod (222222222222) eu-west-1`."""
        name = self.accounts.get(account)
        return f"{name} ({account}) {region}" if name else f"{account} {region}"


class WindowTemplate(Section):
    duration_minutes: int
    message: str
    components: tuple[str, ...] = ()
    alarms: tuple[str, ...] = ()
    mute_alarm_actions: bool = False


class MaintenancePolicy(Section):
    health_check_url: str
    windows: dict[str, WindowTemplate]
    default_minutes: int
    max_minutes: int


class StatusPagePolicy(Section):
    title: str
    appear_after_minutes: int
    calm_minutes: int
    refresh: str


class ReportsPolicy(Section):
    availability_target: float
    incident_report_severities: tuple[str, ...]
    daily: str
    weekly: str
    monthly: str


class DrillPolicy(Section):
    schedule: str
    timeout_seconds: int
    alarm: str


class InvestigatePolicy(Section):
    log_groups: tuple[str, ...]  # the application's, searched for errors by opsctl investigate / logs search


class NoisePolicy(Section):
    reopen_minutes: int  # back in ALARM this soon after resolving: the same incident reopens (flapping)
    flap_page_interval_minutes: int  # pages about a flapping incident at most this often
    group_window_seconds: int  # incidents of one component opening this close together join one parent (0: never)
    update_interval_minutes: int  # a storm parent's update pages at most this often (a higher severity always pages)
    storm_threshold: int  # more incidents than this opening in the window, whatever their component: one parent (0: off)


class PagerDutyPolicy(Section):
    services: dict[str, tuple[str, ...]]  # severity → the PagerDuty services (our names) it triggers
    region: str | None  # where the PagerDuty account is hosted (us | eu); None without a service

    def services_for(self, severity: str) -> tuple[str, ...]:
        return self.services.get(severity, ())

    @property
    def service_names(self) -> list[str]:
        """Every configured service once (each has a routing key of its own)."""
        return sorted({service for names in self.services.values() for service in names})


class DriftPolicy(Section):
    enabled: bool  # a `drift:` section was configured (AWS Config's recorder is on in the account)
    stacks: tuple[str, ...]  # ours first, then the application's: their drift is a P2
    frequency: str  # AWS Config's MaximumExecutionFrequency for the check
    rule_name: str  # our AWS Config rule


class SyntheticsPolicy(Section):
    enabled: bool  # a `synthetics:` section was configured: the health canary runs
    canary_name: str
    url: str
    every_minutes: int
    timeout_seconds: int


class BackupClass(Section):
    schedule: str
    retention_days: int
    rpo_minutes: int
    rto_tier: str  # critical | core | full
    continuous: bool


class ConfigurationBackup(Section):
    bucket: str
    retention_days: int  # noncurrent versions kept


class LogRetention(Section):
    log_group_prefix: str
    retention_days: int


class RestoreTesting(Section):
    schedule: str
    critical_schedule: str
    critical_every_days: int
    validation_window_hours: int


class BackupCleanup(Section):
    delete_orphans: bool
    max_deletions_per_run: int


class BackupPolicy(Section):
    vault_name: str
    tag_key: str
    rpo_tag_key: str
    rto_tag_key: str
    verify_schedule: str
    rto_minutes: dict[str, int]  # tier → minutes
    classes: dict[str, BackupClass]
    configuration: ConfigurationBackup
    logs: LogRetention
    restore_testing: RestoreTesting
    cleanup: BackupCleanup
    sample_size: int
    tolerance_percent: float


def _build(kind: Any, value: Any) -> Any:
    """JSON → the annotated type: sections field by field, lists as tuples, mappings by value."""
    if isinstance(kind, type) and issubclass(kind, Section):
        section = object.__new__(kind)
        for name, hint in get_type_hints(kind).items():
            if name in value:
                object.__setattr__(section, name, _build(hint, value[name]))
            elif not hasattr(kind, name):
                raise TypeError(f"{kind.__name__}: the policy has no {name}")
        return section
    origin = get_origin(kind)
    if origin is UnionType:  # X | None: built as X when present
        return None if value is None else _build(next(a for a in get_args(kind) if a is not type(None)), value)
    if origin is tuple:
        return tuple(_build(get_args(kind)[0], each) for each in value)
    if origin is dict:
        item = get_args(kind)[1]
        return {key: _build(item, each) for key, each in value.items()}
    if kind is float:
        return float(value)
    return value


T = TypeVar("T")
# What the control plane itself runs on, as AWS Health names the services.
CONTROL_PLANE_SERVICES = {"LAMBDA", "DYNAMODB", "SNS", "EVENTS", "SCHEDULER", "KMS", "S3", "CLOUDWATCH"}


class PolicySection(Generic[T]):
    """A policy's section read as its type: built from the JSON key of the attribute's name on first
    read, then kept on the instance."""

    def __init__(self, kind: type[T]) -> None:
        self.kind = kind

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, policy: Policy, owner: type) -> T:
        value: T = _build(self.kind, policy.raw[self.name])
        policy.__dict__[self.name] = value  # kept: the next read finds it before this descriptor
        return value


@dataclass(frozen=True)
class Policy:
    raw: dict[str, Any]

    @property
    def config_version(self) -> str:
        return str(self.raw["config_version"])

    @property
    def app(self) -> str:
        return str(self.raw["app"])

    @property
    def environment(self) -> str:
        return str(self.raw["environment"])

    @property
    def prefix(self) -> str:
        """{app}-{environment}: how the stacks name everything they create."""
        return f"{self.app}-{self.environment}"

    # Each section built on first read, then kept (the JSON key is the attribute's name).
    waf = PolicySection(WafPolicy)
    rollback = PolicySection(RollbackPolicy)
    guardrails = PolicySection(GuardrailLimits)
    capabilities = PolicySection(dict[str, CapabilityPolicy])
    severities = PolicySection(dict[str, SeverityLevel])
    escalation = PolicySection(EscalationPolicy)
    alarms = PolicySection(dict[str, AlarmPolicy])  # by alarm name
    band_alarms = PolicySection(dict[str, BandAlarm])  # by the band's alarm name
    classification = PolicySection(ClassificationPolicy)
    intake = PolicySection(IntakePolicy)
    maintenance = PolicySection(MaintenancePolicy)
    status_page = PolicySection(StatusPagePolicy)
    reports = PolicySection(ReportsPolicy)
    drill = PolicySection(DrillPolicy)
    backup = PolicySection(BackupPolicy)
    investigate = PolicySection(InvestigatePolicy)
    noise = PolicySection(NoisePolicy)
    pagerduty = PolicySection(PagerDutyPolicy)
    drift = PolicySection(DriftPolicy)
    synthetics = PolicySection(SyntheticsPolicy)
    organization = PolicySection(OrganizationPolicy)

    @property
    def region(self) -> str:
        return str(self.raw["region"])

    @property
    def max_event_age_seconds(self) -> int:
        """Triage's limit on how late an alarm may arrive and still move anything."""
        return int(self.raw["triage"]["max_event_age_seconds"])

    @property
    def timezone(self) -> str:
        return str(self.raw["timezone"])

    @property
    def runbook_url(self) -> str:
        return str(self.raw["runbook_url"])

    @property
    def schedules(self) -> dict[str, str]:
        """The calendar's tasks and windows: name → EventBridge Scheduler expression."""
        return dict(self.raw["schedules"])

    @property
    def components(self) -> tuple[str, ...]:
        return tuple(self.raw["components"])

    @property
    def account(self) -> str:
        return str(self.raw["account"])

    # --- whose alarms we believe (README: trust model) -----------------------------------------

    def alarm_arn(self, name: str) -> str:
        return alarm_arn(self.region, self.account, name)

    def ack_due(self, severity: str, since: datetime) -> datetime:
        """When an incident of `severity` must be acknowledged by (the runbook's response time)."""
        return since + timedelta(minutes=self.severities[severity].response_minutes)

    def resolve_due(self, severity: str, since: datetime) -> datetime:
        """When an incident of `severity` opened at `since` must be resolved by (escalation.resolve_minutes)."""
        return since + timedelta(minutes=self.escalation.resolve_minutes[severity])

    @property
    def health_services(self) -> frozenset[str]:
        """The AWS Health service codes whose issues are P1: the control plane's own, and those whose
        metrics the configured alarms watch (AWS/CloudFront → CLOUDFRONT)."""
        watched = {spec.namespace.removeprefix("AWS/").upper() for spec in self.alarms.values()
                   if spec.namespace.startswith("AWS/")}
        return frozenset(watched | CONTROL_PLANE_SERVICES)

    def is_ours(self, alarm_arn: str) -> bool:
        """An alarm our stacks created: this deployment's account and Region, our name prefix."""
        return alarm_arn.startswith(self.alarm_arn(f"{self.prefix}-"))

    def is_local(self, alarm_arn: str) -> bool:
        """In this deployment's account and Region, where our credentials can ask CloudWatch about it."""
        return alarm_arn.startswith(self.alarm_arn(""))

    def allows_account(self, account: str) -> bool:
        return account in self.intake.allowed_accounts

    def trusts_tags(self, alarm_arn: str, account: str) -> bool:
        """`[ops: …]` tags in a description are believed on our own alarms, and on those of an allowed
        account configured with trust_tags; anyone else could write anything there."""
        allowed = self.intake.allowed_accounts.get(account, AccountTrust())
        return self.is_ours(alarm_arn) or (account != self.account and allowed.trust_tags)


@cache
def load_policy(path: str) -> Policy:
    with open(path, encoding="utf-8") as handle:
        return Policy(json.load(handle))
