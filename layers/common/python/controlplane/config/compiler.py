"""The compiler: the validated config → the policy the Lambdas read (JSON, written at synth)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from controlplane.events import DRILL_ALARM_KEY, DRILL_COMPONENT, drift_rule_name, remediation_role_name, stack_name
from controlplane.policy import alarm_arn

if TYPE_CHECKING:
    from controlplane.config.model import ControlPlaneConfig


def compile_policy(config: ControlPlaneConfig) -> dict[str, Any]:
    """What the Lambdas read at run time; its hash is the config version in decision records."""

    def waf_alarm_arn(name: str) -> str:  # the WAF's alarms are in its WebACL's account and Region
        return alarm_arn(config.waf["region"], config.waf["account"], name)

    body = {
        "app": config.app,
        "environment": config.environment,
        "account": config.account,
        "region": config.region,
        "runbook_url": config.runbook_url,
        "severities": config.severities,
        "alarms": {
            spec.name: {"key": spec.key, "severity": spec.severity, "bands": list(spec.bands), "namespace": spec.namespace,
                        "threshold": spec.threshold, "comparison": spec.comparison,
                        "metrics": spec.metric_queries(), "metric_label": spec.metric_label,
                        "baseline": None if spec.multiplier is None else {
                            "multiplier": spec.multiplier, "weeks": spec.baseline_weeks,
                            "min_threshold": spec.min_threshold},
                        "remediation": spec.remediation, "component": spec.component, "impact": spec.impact,
                        "runbook_section": spec.runbook_section}
            for spec in config.alarms
        },
        "band_alarms": {band.name: {"alarm": spec.name, "severity": band.severity}
                        for spec in config.alarms for band in spec.band_alarms()},
        "classification": config.classification,
        "triage": {
            "max_event_age_seconds": config.triage["max_event_age_minutes"] * 60,
        },
        "guardrails": config.guardrails,
        "capabilities": config.capabilities,
        "intake": {
            # This deployment's own account always, the organization's members (whose spokes we
            # deploy); the others only as configured.
            "allowed_accounts": {config.account: {"trust_tags": True}} | config.intake["allowed_accounts"]
                                | {account: {"trust_tags": True} for account in config.organization["accounts"]},
            "suspicious_claims_per_hour": config.intake["suspicious_claims_per_hour"],
        },
        "waf": config.waf | {
            "traffic_alarm_arn": waf_alarm_arn(config.waf["traffic_alarm"]),
            "trigger_alarm_arns": [waf_alarm_arn(name) for name in config.waf["trigger_alarms"]],
            # Alarms our own block sets off: they join the incident, they do not page. A member
            # account's WebACL has none of ours (its owner's alarms are its own).
            "side_effect_alarms": [f"{config.prefix}-waf-blocked-requests"]
            if config.waf["account"] == config.account else []},
        "rollback": config.rollback | {"targets": {
            name: spec | {"alarm_arns": [alarm_arn(spec["region"], spec["account"], alarm) for alarm in spec["alarms"]]}
            for name, spec in config.rollback["targets"].items()}},
        "timezone": config.timezone,
        "schedules": config.schedules,
        "maintenance": config.maintenance,
        "escalation": config.escalation,
        "status_page": config.status_page,
        "reports": config.reports,
        "backup": config.backup,
        "components": sorted({spec.component for spec in config.alarms} - {DRILL_COMPONENT}),
        "drill": config.drill | {"alarm": config.alarm(DRILL_ALARM_KEY).name},
        "investigate": config.investigate,
        "noise": config.noise,
        "pagerduty": {"services": config.notifications["pagerduty"], "region": config.notifications["pagerduty_region"]},
        "synthetics": config.synthetics,
        "organization": config.organization | {"role_name": remediation_role_name(config.prefix)},
        "drift": {"enabled": config.drift["enabled"], "stacks": [stack_name(config.prefix), *config.drift["stacks"]],
                  "frequency": config.drift["frequency"], "rule_name": drift_rule_name(config.prefix)},
    }
    return {"config_version": config.version} | body
