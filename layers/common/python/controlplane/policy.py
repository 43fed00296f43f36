"""The compiled policy: the validated config as synth wrote it (controlplane.config.compiler).

Lambdas only `json.load` it; all parsing and validation happened at synth. Its sections are read as
typed, frozen objects (below): the one contract between synth, the Lambdas and opsctl."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, is_dataclass
from functools import cache, cached_property
from typing import Any, get_args, get_origin, get_type_hints


def alarm_arn(region: str, account: str, name: str) -> str:
    """An alarm's identity: account, Region and name (a name alone may be anyone's)."""
    return f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"


# --- typed sections: the policy's contract, read as attributes, never by string key ---------------

@dataclass(frozen=True)
class CapabilityPolicy:
    mode: str  # enforce | dry-run
    cooldown_minutes: int
    max_toggles_per_hour: int
    min_write_interval_seconds: int


@dataclass(frozen=True)
class GuardrailLimits:
    max_event_age_minutes: int
    action_budget_per_hour: int
    outcome_check_minutes: int


@dataclass(frozen=True)
class WafPolicy:
    web_acl_name: str
    rule_name: str
    existing_web_acl_id: str | None
    limit: int
    evaluation_window_seconds: int
    aggregate_key: str
    block_action: str  # BLOCK | CHALLENGE | CAPTCHA
    trigger_alarms: tuple[str, ...]
    hold_minutes: int
    normal_periods: int
    baseline_weeks: int
    traffic_alarm: str
    traffic_multiplier: float  # the traffic alarm's threshold is this × the baseline
    trigger_alarm_arns: tuple[str, ...]
    alarm_period_seconds: int
    side_effect_alarms: tuple[str, ...]  # alarms our own block sets off: they join, never page


@dataclass(frozen=True)
class RollbackTarget:
    kind: str  # lambda-alias | static-site
    alarms: tuple[str, ...]
    alarm_arns: tuple[str, ...]
    function: str | None = None
    alias: str | None = None
    distribution_id: str | None = None
    origin_id: str | None = None
    bucket: str | None = None
    entry_paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class RollbackPolicy:
    severities: tuple[str, ...]
    bake_minutes: int
    outcome_minutes: int
    targets: dict[str, RollbackTarget]


def _build(kind: Any, value: Any) -> Any:
    """JSON → the annotated type: dataclasses field by field, lists as tuples, mappings by value."""
    if isinstance(kind, type) and is_dataclass(kind):
        hints = get_type_hints(kind)
        return kind(**{f.name: _build(hints[f.name], value[f.name]) for f in fields(kind) if f.name in value})
    origin = get_origin(kind)
    if origin is tuple:
        return tuple(value)
    if origin is dict:
        item = get_args(kind)[1]
        return {key: _build(item, each) for key, each in value.items()}
    if kind is float:
        return float(value)
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

    @cached_property
    def waf(self) -> WafPolicy:
        return _build(WafPolicy, self.raw["waf"])

    @cached_property
    def rollback(self) -> RollbackPolicy:
        return _build(RollbackPolicy, self.raw["rollback"])

    @cached_property
    def guardrails(self) -> GuardrailLimits:
        return _build(GuardrailLimits, self.raw["guardrails"])

    @cached_property
    def capabilities(self) -> dict[str, CapabilityPolicy]:
        return _build(dict[str, CapabilityPolicy], self.raw["capabilities"])

    def section(self, name: str) -> dict[str, Any]:
        value = self.raw[name]
        assert isinstance(value, dict)
        return value

    # --- whose alarms we believe (README: trust model) -----------------------------------------

    def alarm_arn(self, name: str) -> str:
        return alarm_arn(self.raw["region"], self.raw["account"], name)

    def is_ours(self, alarm_arn: str) -> bool:
        """An alarm our stacks created: this deployment's account and Region, our name prefix."""
        return alarm_arn.startswith(self.alarm_arn(f"{self.prefix}-"))

    def is_local(self, alarm_arn: str) -> bool:
        """In this deployment's account and Region, where our credentials can ask CloudWatch about it."""
        return alarm_arn.startswith(self.alarm_arn(""))

    def allows_account(self, account: str) -> bool:
        return account in self.raw["intake"]["allowed_accounts"]

    def trusts_tags(self, alarm_arn: str, account: str) -> bool:
        """`[ops: …]` tags in a description are believed on our own alarms, and on those of an allowed
        account configured with trust_tags; anyone else could write anything there."""
        allowed = self.raw["intake"]["allowed_accounts"].get(account) or {}
        return self.is_ours(alarm_arn) or (account != self.raw["account"] and bool(allowed.get("trust_tags")))


@cache
def load_policy(path: str) -> Policy:
    with open(path, encoding="utf-8") as handle:
        return Policy(json.load(handle))
