"""One validator per section of `config/<env>.yaml`."""

from __future__ import annotations

import functools
import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from controlplane.config import metrics
from controlplane.config.model import AlarmSpec, ControlPlaneConfig, MetricInput
from controlplane.config.organization import parse_organization, target_location
from controlplane.config.readers import (
    _NAME,
    _int,
    _mapping,
    _name,
    _no_unknown,
    _number,
    _severity,
    _str,
    validate_cron,
)
from controlplane.errors import ConfigError
from controlplane.events import BACKUP_COMPONENT, DRILL_ALARM_KEY, DRILL_COMPONENT
from controlplane.settings import SEVERITIES

COMPARISONS = ("GreaterThanThreshold", "GreaterThanOrEqualToThreshold", "LessThanThreshold", "LessThanOrEqualToThreshold")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+[1-9]\d{7,14}$")  # E.164, as SNS takes it
_SLACK_CHANNEL = re.compile(r"^[CG][A-Z0-9]{8,10}$")
_SLACK_WORKSPACE = re.compile(r"^T[A-Z0-9]{8,10}$")
# A PagerDuty service as we name it: its routing key's secret is {prefix}/pagerduty/{name}.
_PAGERDUTY_SERVICE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
PAGERDUTY_REGIONS = ("us", "eu")
# A text message is the loudest channel: for P0 only (the runbook's "Immediate").
SMS_SEVERITIES = ("P0",)

TOP_LEVEL = {"app", "environment", "account", "region", "timezone", "runbook_url", "severities", "contacts",
             "alarms", "classification", "triage", "schedules", "guardrails", "capabilities", "waf", "rollback",
             "maintenance", "escalation", "status_page", "reports", "backup", "intake", "deployers", "drill",
             "investigate", "noise", "notifications", "drift", "synthetics", "organization"}
INTAKE_KEYS = {"allowed_accounts", "suspicious_claims_per_hour"}
DEFAULT_SUSPICIOUS_CLAIMS_PER_HOUR = 5
GUARDRAIL_KEYS = {"max_event_age_minutes", "action_budget_per_hour", "outcome_check_minutes"}
CAPABILITY_KEYS = {"mode", "cooldown_minutes", "max_toggles_per_hour", "min_write_interval_seconds"}
CAPABILITIES = ("waf", "rollback", "restore_test")
ROLLBACK_KINDS = {"lambda-alias": {"function", "alias"},
                  "static-site": {"distribution_id", "origin_id", "bucket", "entry_paths"}}
WAF_KEYS = {"scope", "protects", "web_acl_name", "existing_web_acl_id", "rule_name", "limit", "evaluation_window_seconds",
            "aggregate_key", "block_action", "hold_minutes", "normal_periods", "trigger_alarms", "account", "region",
            "traffic_alarm"}
ALARM_KEYS = {"description", "metric", "expression", "comparison", "threshold", "baseline", "multiplier", "baseline_weeks",
              "min_threshold", "evaluation_periods",
              "severity", "bands", "remediation", "component", "impact", "runbook_section"}
RULE_KEYS = {"name", "alarm_name", "namespace", "metric", "severity", "remediation", "component", "impact",
             "runbook_section"}
MAINTENANCE_KEYS = {"health_check_url", "default_minutes", "max_minutes", "windows"}
WINDOW_KEYS = {"duration_minutes", "message", "components", "alarms", "mute_alarm_actions"}
MUTE_RULE_MAX_MINUTES = 15 * 24 * 60  # CloudWatch alarm mute rules last at most 15 days
TRIAGE_KEYS = {"max_event_age_minutes", "intake_retry_attempts", "intake_max_event_age_minutes"}
DRILL_KEYS = {"schedule", "timeout_seconds"}
INVESTIGATE_KEYS = {"log_groups"}
# AWS Config's periodic frequencies (MaximumExecutionFrequency) for the drift rule.
DRIFT_FREQUENCIES = ("One_Hour", "Three_Hours", "Six_Hours", "Twelve_Hours", "TwentyFour_Hours")
_STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
# Flap damping (the runbook's "no flapping"): an alarm back in ALARM this soon after resolving reopens
# its incident, and pages about a flapping incident come at most this often.
# Storm grouping: like Alertmanager's group_wait/group_interval, but the first page is never delayed
# (a P0 must not wait for company); see the README's alerting section.
NOISE_DEFAULTS = {"reopen_minutes": 30, "flap_page_interval_minutes": 30, "group_window_seconds": 120,
                  "update_interval_minutes": 15, "storm_threshold": 10}
# CloudFront's WebACLs, and the metrics of CloudFront and of Route 53 health checks, live in this
# Region only.
WAF_REGION = "us-east-1"
US_EAST_1_ONLY_NAMESPACES = ("AWS/CloudFront", "AWS/Route53")
SYNTHETICS_NAMESPACE = "CloudWatchSynthetics"
CANARY_RUN_MARGIN_SECONDS = 5
# What a REGIONAL WebACL may be associated with (WAF Developer Guide, *Protected resources*):
# an Application Load Balancer, an API Gateway REST API stage, an AppSync API, a Cognito user pool,
# an App Runner service, a Verified Access instance.
_PROTECTABLE = re.compile(
    r"^arn:aws[a-z-]*:(elasticloadbalancing:(?P<r1>[a-z0-9-]+):\d{12}:loadbalancer/app/[^/]+/[0-9a-f]+"
    r"|apigateway:(?P<r2>[a-z0-9-]+)::/restapis/[a-z0-9]+/stages/[^/]+"
    r"|appsync:(?P<r3>[a-z0-9-]+):\d{12}:apis/[a-z0-9]+"
    r"|cognito-idp:(?P<r4>[a-z0-9-]+):\d{12}:userpool/[\w-]+"
    r"|apprunner:(?P<r5>[a-z0-9-]+):\d{12}:service/[^/]+/[0-9a-f]+"
    r"|ec2:(?P<r6>[a-z0-9-]+):\d{12}:verified-access-instance/vai-[0-9a-f]+)$")
# The weekly fire drill, unless the config says otherwise: Tuesday 10:00 local, when people are awake
# to hear that paging is broken.
DRILL_DEFAULTS = {"schedule": "cron(0 10 ? * TUE *)", "timeout_seconds": 300}


def parse_config(raw: Any) -> ControlPlaneConfig:
    root = _mapping(raw, "config")
    _no_unknown(root, TOP_LEVEL, "")
    app = _name(root, "app")
    environment = _name(root, "environment")
    account = _str(root, "account")
    if not re.fullmatch(r"\d{12}", account):
        raise ConfigError("account: must be a 12-digit AWS account id")
    region = _region(_str(root, "region"))
    timezone = _str(root, "timezone")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ConfigError(f"timezone: unknown time zone {timezone!r}") from error
    severities = _severities(_mapping(root.get("severities"), "severities"))
    contacts = _contacts(_mapping(root.get("contacts"), "contacts"))
    alarms = tuple(
        _alarm(app, environment, key, _mapping(spec, f"alarms.{key}"))
        for key, spec in _mapping(root.get("alarms"), "alarms").items()
    )
    if not alarms:
        raise ConfigError("alarms: at least one alarm is required")
    if any(spec.key == DRILL_ALARM_KEY for spec in alarms):
        raise ConfigError(f"alarms.{DRILL_ALARM_KEY}: reserved for the control plane's own fire-drill alarm")
    alarms += (_drill_alarm(app, environment),)
    _in_us_east_1(alarms, region)
    keys = {spec.key for spec in alarms}
    for band in (band for spec in alarms for band in spec.band_alarms()):
        if band.key in keys:
            raise ConfigError(f"alarms.{band.key}: that name is taken by alarms.{band.band_of}'s "
                              f"{band.severity} band alarm ({band.name})")
    schedules = {name: validate_cron(expr, f"schedules.{name}")
                 for name, expr in _mapping(root.get("schedules") or {}, "schedules").items()}
    classification = _classification(_mapping(root.get("classification"), "classification"))
    components = {spec.component for spec in alarms} | {rule["component"] for rule in classification["rules"]
                                                         if rule.get("component")} | {BACKUP_COMPONENT}
    intake = _intake(_mapping(root.get("intake") or {}, "intake"), account)
    organization = parse_organization(root.get("organization"), hub_account=account,
                                      allowed=intake["allowed_accounts"], check_region=_region)
    return ControlPlaneConfig(
        app=app,
        environment=environment,
        account=account,
        region=region,
        timezone=timezone,
        runbook_url=_str(root, "runbook_url"),
        severities=severities,
        contacts=contacts,
        alarms=alarms,
        classification=classification,
        triage=_triage(_mapping(root.get("triage"), "triage")),
        schedules=schedules,
        guardrails=_positive_ints(_mapping(root.get("guardrails"), "guardrails"), GUARDRAIL_KEYS, "guardrails"),
        capabilities=_capabilities(_mapping(root.get("capabilities"), "capabilities")),
        waf=_waf(_mapping(root.get("waf"), "waf"), alarms, hub=(account, region), organization=organization),
        rollback=_rollback(_mapping(root.get("rollback"), "rollback"), {spec.name for spec in alarms},
                           hub=(account, region), organization=organization),
        maintenance=_maintenance(_mapping(root.get("maintenance"), "maintenance"), schedules, components),
        escalation=_escalation(_mapping(root.get("escalation"), "escalation"), severities),
        status_page=_status_page(_mapping(root.get("status_page"), "status_page")),
        reports=_reports(_mapping(root.get("reports"), "reports")),
        backup=_backup(_mapping(root.get("backup"), "backup")),
        intake=intake,
        organization=organization,
        deployers=_deployers(root.get("deployers") or []),
        drill=_drill(_mapping(root.get("drill") or {}, "drill")),
        investigate=_investigate(_mapping(root.get("investigate") or {}, "investigate")),
        noise=_noise(_mapping(root.get("noise") or {}, "noise")),
        notifications=_notifications(_mapping(root.get("notifications") or {}, "notifications")),
        drift=_drift(_mapping(root.get("drift") or {}, "drift") if "drift" in root else None),
        synthetics=_synthetics(_mapping(root["synthetics"], "synthetics") if "synthetics" in root else None,
                               f"{app}-{environment}", alarms),
    )


@functools.cache
def _known_regions() -> tuple[str, frozenset[str]]:
    """(botocore's version, every Region it knows in any partition): new Regions come with a newer SDK."""
    import botocore.session  # synth's dependency, not the functions'

    session = botocore.session.get_session()
    return botocore.__version__, frozenset(name for partition in session.get_available_partitions()
                                           for name in session.get_available_regions("cloudwatch", partition))


def _region(region: str) -> str:
    version, known = _known_regions()
    if region not in known:
        raise ConfigError(f"region: {region!r} is not a Region this SDK knows (botocore {version}); one of "
                          f"{', '.join(sorted(known))}")
    return region


def _in_us_east_1(alarms: tuple[AlarmSpec, ...], region: str) -> None:
    if region == WAF_REGION:
        return
    for spec in alarms:
        if watched := sorted({metric.namespace for metric in spec.watched} & set(US_EAST_1_ONLY_NAMESPACES)):
            raise ConfigError(f"alarms.{spec.key}: {', '.join(watched)} metrics are published in {WAF_REGION} only, "
                              f"so an alarm in {region} would watch nothing: deploy in {WAF_REGION}, or watch a "
                              "regional metric (e.g. AWS/ApplicationELB)")


def _notifications(raw: dict[str, Any]) -> dict[str, Any]:
    """The channels besides email (`contacts`), per severity: SMS to phones, Slack channels through
    Amazon Q Developer in chat applications (AWS Chatbot), which needs the authorized workspace, and
    PagerDuty services through its Events API v2 (each service's routing key is in Secrets Manager,
    never here)."""
    _no_unknown(raw, {"channels", "slack_workspace_id", "pagerduty_region"}, "notifications")
    channels = _mapping(raw.get("channels") or {}, "notifications.channels")
    _no_unknown(channels, {"sms", "slack", "pagerduty"}, "notifications.channels")
    result: dict[str, Any] = {"slack_workspace_id": None, "pagerduty_region": None}
    for channel, pattern, noun, example in (("sms", _PHONE, "E.164 phone number", "+15550100123"),
                                            ("slack", _SLACK_CHANNEL, "Slack channel id", "C0123ABCDE"),
                                            ("pagerduty", _PAGERDUTY_SERVICE, "PagerDuty service name (lower case, "
                                             "digits and dashes)", "financeanalyst-emergency")):
        where = f"notifications.channels.{channel}"
        per_severity = _mapping(channels.get(channel) or {}, where)
        _no_unknown(per_severity, set(SMS_SEVERITIES if channel == "sms" else SEVERITIES), where)
        result[channel] = {}
        for severity, entries in per_severity.items():
            if not isinstance(entries, list) or not entries:
                raise ConfigError(f"{where}.{severity}: a list of at least one {noun}")
            for entry in entries:
                if not isinstance(entry, str) or not pattern.match(entry):
                    raise ConfigError(f"{where}.{severity}: {entry!r} is not a valid {noun} (e.g. {example})")
            result[channel][severity] = tuple(entries)
    if result["slack"]:
        workspace = raw.get("slack_workspace_id")
        if not isinstance(workspace, str) or not _SLACK_WORKSPACE.match(workspace):
            raise ConfigError("notifications.slack_workspace_id: the Slack workspace id authorized in Amazon Q "
                              f"Developer in chat applications (T0123ABCDE), got {workspace!r}")
        result["slack_workspace_id"] = workspace
    elif "slack_workspace_id" in raw:
        raise ConfigError("notifications.slack_workspace_id: no Slack channel is configured (channels.slack)")
    if result["pagerduty"]:
        region = raw.get("pagerduty_region", "us")
        if region not in PAGERDUTY_REGIONS:
            raise ConfigError(f"notifications.pagerduty_region: one of {', '.join(PAGERDUTY_REGIONS)} (where the "
                              f"PagerDuty account is hosted), got {region!r}")
        result["pagerduty_region"] = region
    elif "pagerduty_region" in raw:
        raise ConfigError("notifications.pagerduty_region: no PagerDuty service is configured (channels.pagerduty)")
    return result


def _noise(raw: dict[str, Any]) -> dict[str, Any]:
    _no_unknown(raw, set(NOISE_DEFAULTS), "noise")
    noise = NOISE_DEFAULTS | {key: _int(raw, key, "noise") for key in raw}
    if not 0 <= noise["reopen_minutes"] <= 24 * 60:
        raise ConfigError("noise.reopen_minutes: between 0 (never reopen) and 1440")
    if not 1 <= noise["flap_page_interval_minutes"] <= 24 * 60:
        raise ConfigError("noise.flap_page_interval_minutes: between 1 and 1440")
    if not 0 <= noise["group_window_seconds"] <= 3600:
        raise ConfigError("noise.group_window_seconds: between 0 (never group) and 3600")
    if not 1 <= noise["update_interval_minutes"] <= 24 * 60:
        raise ConfigError("noise.update_interval_minutes: between 1 and 1440")
    if noise["storm_threshold"] != 0 and not 2 <= noise["storm_threshold"] <= 1000:
        raise ConfigError("noise.storm_threshold: 0 (off) or between 2 and 1000 incidents")
    return noise


def _drift(raw: dict[str, Any] | None) -> dict[str, Any]:
    """The application's stacks whose drift from their templates is a P2 (our own stack always is),
    and how often AWS Config checks. Without a `drift:` section there is no check: AWS Config's rule
    needs the account's configuration recorder, and cannot even be created without one."""
    if raw is None:
        return {"enabled": False, "stacks": [], "frequency": "Six_Hours"}
    _no_unknown(raw, {"stacks", "frequency"}, "drift")
    stacks = raw.get("stacks", [])
    if not isinstance(stacks, list) or not all(isinstance(s, str) and _STACK_NAME.match(s) for s in stacks):
        raise ConfigError("drift.stacks: a list of CloudFormation stack names (letters, digits, dashes; a letter first)")
    frequency = raw.get("frequency", "Six_Hours")
    if frequency not in DRIFT_FREQUENCIES:
        raise ConfigError(f"drift.frequency: one of {', '.join(DRIFT_FREQUENCIES)}, got {frequency!r}")
    return {"enabled": True, "stacks": list(stacks), "frequency": frequency}


def _synthetics(raw: dict[str, Any] | None, prefix: str, alarms: tuple[AlarmSpec, ...]) -> dict[str, Any]:
    """The health canary: a CloudWatch Synthetics canary that asks `url` every `every_minutes`. Alarms
    on CloudWatchSynthetics watch it by its name ({prefix}-health); without this section none may."""
    canary = f"{prefix}-health"
    watching = [spec.key for spec in alarms
                if any(metric.namespace == SYNTHETICS_NAMESPACE and metric.dimensions.get("CanaryName") == canary
                       for metric in spec.watched)]
    if raw is None:
        if watching:
            raise ConfigError(f"alarms.{watching[0]}: watches the canary {canary}, which runs only with a "
                              "synthetics: section")
        return {"enabled": False, "canary_name": canary, "url": "", "every_minutes": 5, "timeout_seconds": 10}
    _no_unknown(raw, {"url", "every_minutes", "timeout_seconds"}, "synthetics")
    url = _str(raw, "url", "synthetics")
    if not re.match(r"^https://[^\s/]+", url):
        raise ConfigError(f"synthetics.url: an https URL (the application's health endpoint), got {url!r}")
    every = int(raw.get("every_minutes", 1))
    if not 1 <= every <= 60:
        raise ConfigError("synthetics.every_minutes: 1 to 60")
    timeout = int(raw.get("timeout_seconds", 10))
    # The run may take the request's timeout and 5 s more, and must end before the next run starts.
    if not 1 <= timeout <= min(60 * every, 840) - CANARY_RUN_MARGIN_SECONDS:
        raise ConfigError(f"synthetics.timeout_seconds: at least 1, at most the interval between runs (and 840) "
                          f"less {CANARY_RUN_MARGIN_SECONDS} s")
    return {"enabled": True, "canary_name": canary, "url": url, "every_minutes": every, "timeout_seconds": timeout}


def _investigate(raw: dict[str, Any]) -> dict[str, Any]:
    """Where `opsctl investigate` and `opsctl logs search` look for the application's errors."""
    _no_unknown(raw, INVESTIGATE_KEYS, "investigate")
    groups = raw.get("log_groups", [])
    if not isinstance(groups, list) or not all(isinstance(g, str) and re.fullmatch(r"[\w\-/.#]{1,512}", g) for g in groups):
        raise ConfigError("investigate.log_groups: a list of CloudWatch Logs log group names")
    if len(groups) > 50:
        raise ConfigError(f"investigate.log_groups: Logs Insights queries at most 50 log groups (got {len(groups)})")
    return {"log_groups": list(groups)}


def _drill(raw: dict[str, Any]) -> dict[str, Any]:
    _no_unknown(raw, DRILL_KEYS, "drill")
    merged = DRILL_DEFAULTS | raw
    timeout = _int(merged, "timeout_seconds", "drill")
    # The drill Lambda waits for both hops (open, resolve) within its 15-minute limit.
    if not 60 <= timeout <= 420:
        raise ConfigError(f"drill.timeout_seconds: must be 60–420 (got {timeout})")
    return {"schedule": validate_cron(merged["schedule"], "drill.schedule"), "timeout_seconds": timeout}


def _drill_alarm(app: str, environment: str) -> AlarmSpec:
    """The fire drill's own alarm (`opsctl drill` and the weekly schedule flip it with SetAlarmState):
    P3, no remediation, on a metric nothing publishes, so only a drill ever sets it off (missing data
    is not breaching: a Sum)."""
    return AlarmSpec(
        key=DRILL_ALARM_KEY, name=f"{app}-{environment}-{DRILL_ALARM_KEY}",
        description="Fire drill of the paging pipeline (opsctl drill, and the weekly schedule); never a real problem",
        namespace="OpsControlPlane/Drill", metric_name="DrillSignal", statistic="Sum", period_seconds=60,
        dimensions={"ControlPlane": f"{app}-{environment}"}, comparison="GreaterThanOrEqualToThreshold", threshold=1,
        evaluation_periods=1, severity="P3", remediation="none", component=DRILL_COMPONENT,
        impact="None: a fire drill of the control plane's own paging", runbook_section="fire-drill", bands=())


def _intake(raw: dict[str, Any], own_account: str) -> dict[str, Any]:
    """Whose alarms we accept besides our own account's, and whose `[ops: …]` tags we believe."""
    _no_unknown(raw, INTAKE_KEYS, "intake")
    entries = raw.get("allowed_accounts") or []
    if not isinstance(entries, list):
        raise ConfigError("intake.allowed_accounts: a list of account ids or {account, trust_tags}")
    allowed: dict[str, dict[str, bool]] = {}
    for index, entry in enumerate(entries):
        where = f"intake.allowed_accounts[{index}]"
        spec = {"account": entry} if isinstance(entry, str) else _mapping(entry, where)
        _no_unknown(spec, {"account", "trust_tags"}, where)
        account = str(spec.get("account"))
        if not re.fullmatch(r"\d{12}", account):
            raise ConfigError(f"{where}.account: must be a 12-digit AWS account id (got {account!r})")
        if account == own_account:
            raise ConfigError(f"{where}: {account} is this deployment's own account, always allowed")
        if not isinstance(spec.get("trust_tags", False), bool):
            raise ConfigError(f"{where}.trust_tags: true or false")
        allowed[account] = {"trust_tags": bool(spec.get("trust_tags", False))}
    burst = raw.get("suspicious_claims_per_hour", DEFAULT_SUSPICIOUS_CLAIMS_PER_HOUR)
    if not isinstance(burst, int) or isinstance(burst, bool) or burst < 1:
        raise ConfigError(f"intake.suspicious_claims_per_hour: a whole number of at least 1 (got {burst!r})")
    return {"allowed_accounts": allowed, "suspicious_claims_per_hour": burst}


def _deployers(raw: Any) -> tuple[str, ...]:
    """The principals (pipelines' roles) that may announce deployments on the ops bus."""
    if not isinstance(raw, list) or any(not isinstance(arn, str) or not re.fullmatch(
            r"arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+", arn) for arn in raw):
        raise ConfigError("deployers: a list of IAM role or user ARNs (arn:aws:iam::<account>:role/<name>)")
    return tuple(raw)


def _severities(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    if sorted(raw) != list(SEVERITIES):
        raise ConfigError(f"severities: must define exactly {', '.join(SEVERITIES)} (got {', '.join(sorted(raw))})")
    result: dict[str, dict[str, Any]] = {}
    previous = 0
    for severity in SEVERITIES:
        level = _mapping(raw[severity], f"severities.{severity}")
        _no_unknown(level, {"name", "response_minutes", "escalation", "description"}, f"severities.{severity}")
        minutes = _int(level, "response_minutes", f"severities.{severity}")
        if minutes <= previous:
            raise ConfigError(f"severities.{severity}.response_minutes: must be longer than the more severe level's ({previous})")
        previous = minutes
        result[severity] = {
            "name": _str(level, "name", f"severities.{severity}"),
            "response_minutes": minutes,
            "escalation": _str(level, "escalation", f"severities.{severity}"),
            "description": _str(level, "description", f"severities.{severity}"),
        }
    return result


def _contacts(raw: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    _no_unknown(raw, set(SEVERITIES), "contacts")
    result = {}
    for severity in SEVERITIES:
        emails = raw.get(severity)
        if not isinstance(emails, list) or not emails:
            raise ConfigError(f"contacts.{severity}: severity {severity} has no contact; list at least one email")
        for email in emails:
            if not isinstance(email, str) or not _EMAIL.match(email):
                raise ConfigError(f"contacts.{severity}: {email!r} is not an email address")
        result[severity] = tuple(emails)
    return result


def _alarm(app: str, environment: str, key: str, raw: dict[str, Any]) -> AlarmSpec:
    where = f"alarms.{key}"
    if not _NAME.match(key):
        raise ConfigError(f"{where}: alarm keys are lower-case words joined by dashes")
    _no_unknown(raw, ALARM_KEYS, where)
    if ("metric" in raw) == ("expression" in raw):
        raise ConfigError(f"{where}: give either metric (one CloudWatch metric) or expression (a metric-math formula)")
    formula: str | None = None
    inputs: tuple[MetricInput, ...] = ()
    if "metric" in raw:
        metric, period = metrics.single_metric(_mapping(raw["metric"], f"{where}.metric"), f"{where}.metric")
    else:
        formula, label, inputs, period = metrics.expression(_mapping(raw["expression"], f"{where}.expression"),
                                                            f"{where}.expression")
        metric = MetricInput("", inputs[0].namespace, label, "", {})
    comparison = _str(raw, "comparison", where)
    if comparison not in COMPARISONS:
        raise ConfigError(f"{where}.comparison: must be one of {', '.join(COMPARISONS)}")
    multiplier: float | None = None
    baseline_weeks: int | None = None
    min_threshold: float | None = None
    if "baseline" in raw or "multiplier" in raw:
        baseline, multiplier = _number(raw, "baseline", where), _number(raw, "multiplier", where)
        if baseline <= 0 or multiplier <= 1:
            raise ConfigError(f"{where}: baseline must be positive and multiplier above 1")
        if formula is not None:
            raise ConfigError(f"{where}: baseline × multiplier needs one metric, not an expression (the hourly "
                              "baseline job reads the metric's own history)")
        if not comparison.startswith("Greater"):
            raise ConfigError(f"{where}: baseline × multiplier is for an alarm on a rise (GreaterThanThreshold)")
        baseline_weeks = _int(raw, "baseline_weeks", where)
        if not 1 <= baseline_weeks <= 12:
            raise ConfigError(f"{where}.baseline_weeks: 1 to 12 (the same hour of the week, that many weeks back)")
        min_threshold = _number(raw, "min_threshold", where) if "min_threshold" in raw else 1.0
        threshold = round(max(baseline * multiplier, min_threshold), 6)
    elif "baseline_weeks" in raw or "min_threshold" in raw:
        raise ConfigError(f"{where}: baseline_weeks and min_threshold go with baseline and multiplier")
    else:
        threshold = _number(raw, "threshold", where)
    _check_threshold(where, metric.name, comparison, threshold)
    severity = _severity(raw, "severity", where)
    bands = tuple(_band(where, i, band, comparison, threshold) for i, band in enumerate(raw.get("bands") or []))
    for index, band in enumerate(bands):
        if band["severity"] >= severity:  # "P0" sorts first
            raise ConfigError(f"{where}.bands[{index}].severity: {band['severity']} must be more severe than the "
                              f"alarm's own {severity}")
    if len({band["severity"] for band in bands}) < len(bands):
        raise ConfigError(f"{where}.bands: one band per severity (each is an alarm named after it)")
    if bands and "baseline" in raw:
        raise ConfigError(f"{where}.bands: not on a baseline × multiplier alarm (its threshold moves every hour)")
    evaluation_periods = _int(raw, "evaluation_periods", where)
    if evaluation_periods < 1:
        raise ConfigError(f"{where}.evaluation_periods: must be at least 1")
    return AlarmSpec(
        key=key,
        name=f"{app}-{environment}-{key}",
        description=_str(raw, "description", where),
        namespace=metric.namespace,
        metric_name=metric.name,
        statistic=metric.statistic,
        period_seconds=period,
        dimensions=metric.dimensions,
        comparison=comparison,
        threshold=threshold,
        evaluation_periods=evaluation_periods,
        severity=severity,
        remediation=_str(raw, "remediation", where),
        component=_str(raw, "component", where),
        impact=_str(raw, "impact", where),
        runbook_section=_str(raw, "runbook_section", where),
        bands=bands,
        multiplier=multiplier,
        baseline_weeks=baseline_weeks,
        min_threshold=min_threshold,
        expression=formula,
        inputs=inputs,
    )


def _check_threshold(where: str, metric: str, comparison: str, threshold: float) -> None:
    """Reject thresholds that can never be crossed (or are always crossed)."""
    greater = comparison.startswith("Greater")
    if re.search(r"(Rate|Percent|Percentage|Healthy)", metric) and not 0 <= threshold <= 100:
        raise ConfigError(f"{where}.threshold: {threshold} is impossible for a percentage metric ({metric}): use 0–100")
    if greater and threshold < 0:
        raise ConfigError(f"{where}.threshold: {threshold} is below zero, so the alarm would always fire")
    if not greater and threshold <= 0:
        raise ConfigError(f"{where}.threshold: {comparison} {threshold} can never fire for a non-negative metric")


def _band(where: str, index: int, raw: Any, comparison: str, threshold: float) -> dict[str, Any]:
    band = _mapping(raw, f"{where}.bands[{index}]")
    _no_unknown(band, {"above", "below", "severity"}, f"{where}.bands[{index}]")
    severity = _severity(band, "severity", f"{where}.bands[{index}]")
    direction = "above" if comparison.startswith("Greater") else "below"
    if set(band) - {"severity"} != {direction}:
        raise ConfigError(f"{where}.bands[{index}]: a {comparison} alarm takes bands with '{direction}' only")
    value = _number(band, direction, f"{where}.bands[{index}]")
    if (value <= threshold) if direction == "above" else (value >= threshold):
        raise ConfigError(f"{where}.bands[{index}].{direction}: {value} must be beyond the alarm threshold {threshold}")
    return {direction: value, "severity": severity}


def _classification(raw: dict[str, Any]) -> dict[str, Any]:
    _no_unknown(raw, {"default_severity", "rules"}, "classification")
    rules = []
    for index, rule in enumerate(raw.get("rules") or []):
        where = f"classification.rules[{index}]"
        rule = _mapping(rule, where)
        _no_unknown(rule, RULE_KEYS, where)
        _str(rule, "name", where)
        _severity(rule, "severity", where)
        if not {"alarm_name", "namespace", "metric"} & set(rule):
            raise ConfigError(f"{where}: a rule needs alarm_name, namespace or metric to match on")
        if "alarm_name" in rule:
            try:
                re.compile(rule["alarm_name"])
            except re.error as error:
                raise ConfigError(f"{where}.alarm_name: not a regular expression: {error}") from error
        rules.append(dict(rule))
    return {"default_severity": _severity(raw, "default_severity", "classification"), "rules": rules}


def _triage(raw: dict[str, Any]) -> dict[str, int]:
    _no_unknown(raw, TRIAGE_KEYS, "triage")
    values = {key: _int(raw, key, "triage") for key in sorted(TRIAGE_KEYS)}
    for key, value in values.items():
        if value < (0 if key == "intake_retry_attempts" else 1):
            raise ConfigError(f"triage.{key}: must be positive (got {value})")
    if values["intake_retry_attempts"] > 2:
        raise ConfigError("triage.intake_retry_attempts: Lambda allows 0–2 async retries")
    if not 1 <= values["intake_max_event_age_minutes"] <= 360:
        raise ConfigError("triage.intake_max_event_age_minutes: Lambda allows 1–360 minutes")
    return values


def _positive_ints(raw: dict[str, Any], keys: set[str], where: str) -> dict[str, int]:
    _no_unknown(raw, keys, where)
    values = {key: _int(raw, key, where) for key in sorted(keys)}
    for key, value in values.items():
        if value < 1:
            raise ConfigError(f"{where}.{key}: must be at least 1 (got {value})")
    return values


def _capabilities(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    _no_unknown(raw, set(CAPABILITIES), "capabilities")
    result = {}
    for name in CAPABILITIES:
        where = f"capabilities.{name}"
        spec = _mapping(raw.get(name), where)
        mode = spec.get("mode")
        if mode not in ("enforce", "dry-run"):
            raise ConfigError(f"{where}.mode: must be 'enforce' or 'dry-run' (got {mode!r})")
        result[name] = {"mode": mode} | _positive_ints({k: v for k, v in spec.items() if k != "mode"},
                                                        CAPABILITY_KEYS - {"mode"}, where)
    return result


def _waf(raw: dict[str, Any], alarms: tuple[AlarmSpec, ...], *, hub: tuple[str, str],
         organization: dict[str, Any]) -> dict[str, Any]:
    _no_unknown(raw, WAF_KEYS, "waf")
    account, region = target_location(raw, "waf", hub_account=hub[0], hub_region=hub[1], organization=organization)
    member = account != hub[0]
    scope = raw.get("scope", "CLOUDFRONT")
    if scope not in ("CLOUDFRONT", "REGIONAL"):
        raise ConfigError(f"waf.scope: CLOUDFRONT (a distribution) or REGIONAL (a load balancer, an API stage, …), "
                          f"got {scope!r}")
    if scope == "CLOUDFRONT" and region != WAF_REGION:
        raise ConfigError(f"waf.scope: CLOUDFRONT WebACLs live in {WAF_REGION}" + (
            f", so in a member account give waf.region: {WAF_REGION}" if member else
            f", and the stack that owns one is deployed there: deploy in {WAF_REGION}, or protect a resource in "
            f"{region} (scope REGIONAL)"))
    if member and not raw.get("existing_web_acl_id"):
        raise ConfigError(f"waf.existing_web_acl_id: the WebACL in {account} is that account's own (its owner "
                          "associates it and pre-provisions the rate rule in COUNT); the hub only flips that rule, "
                          "through the account's spoke role, and needs its Id")
    protects = raw.get("protects", [])
    if scope == "CLOUDFRONT" and protects:
        raise ConfigError("waf.protects: for scope REGIONAL; a distribution names its WebACL itself (WebACLId)")
    if scope == "REGIONAL" and not raw.get("existing_web_acl_id"):
        if not isinstance(protects, list) or not protects:
            raise ConfigError("waf.protects: the ARNs of the resources the REGIONAL WebACL protects (it is associated "
                              "with each)")
        for arn in protects:
            match = _PROTECTABLE.match(str(arn))
            if match is None:
                raise ConfigError(f"waf.protects: {arn!r} is not the ARN of a load balancer, API stage, AppSync API, "
                                  "user pool, App Runner service or Verified Access instance")
            if next(r for r in match.groupdict().values() if r) != region:
                raise ConfigError(f"waf.protects: {arn} is not in {region}: a REGIONAL WebACL protects resources "
                                  "in its own Region")
    elif protects:
        raise ConfigError("waf.protects: not with existing_web_acl_id (its owner associates it)")
    traffic = _member_traffic(raw) if member else _hub_traffic(raw, alarms)
    action = _str(raw, "block_action", "waf")
    if action not in ("BLOCK", "CHALLENGE", "CAPTCHA"):
        raise ConfigError(f"waf.block_action: must be BLOCK, CHALLENGE or CAPTCHA (got {action!r})")
    window = _int(raw, "evaluation_window_seconds", "waf")
    if window not in (60, 120, 300, 600):
        raise ConfigError(f"waf.evaluation_window_seconds: WAF allows 60, 120, 300 or 600 (got {window})")
    limit = _int(raw, "limit", "waf")
    if not 10 <= limit <= 2_000_000_000:
        raise ConfigError(f"waf.limit: WAF rate limits are 10 to 2,000,000,000 (got {limit})")
    if _str(raw, "aggregate_key", "waf") not in ("IP", "FORWARDED_IP"):
        raise ConfigError("waf.aggregate_key: must be IP or FORWARDED_IP")
    numbers = {k: _int(raw, k, "waf") for k in ("hold_minutes", "normal_periods")}
    if min(numbers.values()) < 1:
        raise ConfigError("waf: hold_minutes and normal_periods must be at least 1")
    existing = raw.get("existing_web_acl_id")
    if existing is not None and not re.fullmatch(r"[0-9a-f-]{36}", str(existing)):
        raise ConfigError(f"waf.existing_web_acl_id: the Id of a {scope} WebACL (36 characters)")
    return {"scope": scope, "protects": list(protects), "account": account, "region": region,
            "web_acl_name": _str(raw, "web_acl_name", "waf"), "rule_name": _str(raw, "rule_name", "waf"),
            "existing_web_acl_id": existing,
            "limit": limit, "evaluation_window_seconds": window, "aggregate_key": raw["aggregate_key"],
            "block_action": action, **traffic, **numbers}


def _hub_traffic(raw: dict[str, Any], alarms: tuple[AlarmSpec, ...]) -> dict[str, Any]:
    """The hub's WAF is triggered by alarms this config makes (keys of `alarms:`), and knows a spike
    by the traffic-spike alarm, whose threshold the baseline job keeps at multiplier × normal."""
    if "traffic_alarm" in raw:
        raise ConfigError("waf.traffic_alarm: for a member account's WAF; the hub's is alarms.traffic-spike")
    spike = next((spec for spec in alarms if spec.key == "traffic-spike" and spec.remediation == "waf-rate-limit"), None)
    if spike is None:
        raise ConfigError("waf: needs the alarms.traffic-spike alarm with remediation waf-rate-limit to trigger it")
    if spike.multiplier is None:
        raise ConfigError("alarms.traffic-spike: give baseline and multiplier (not threshold): the hourly baseline job "
                          "recomputes the baseline and sets the threshold to multiplier × baseline")
    by_key = {spec.key: spec for spec in alarms}
    triggers = raw.get("trigger_alarms", ["traffic-spike"])
    if not isinstance(triggers, list) or not triggers or any(t not in by_key for t in triggers):
        raise ConfigError(f"waf.trigger_alarms: keys of alarms (known: {', '.join(sorted(by_key))}) whose incidents "
                          "turn rate limiting on")
    return {"trigger_alarms": [by_key[key].name for key in triggers], "traffic_alarm": spike.name,
            "traffic_multiplier": spike.multiplier, "alarm_period_seconds": spike.period_seconds}


def _member_traffic(raw: dict[str, Any]) -> dict[str, Any]:
    """A member account's WAF is triggered by that account's own alarms (as its rollback targets
    are): its owner sets their thresholds, so there is no baseline or multiplier of ours."""
    traffic = _mapping(raw.get("traffic_alarm"), "waf.traffic_alarm")
    _no_unknown(traffic, {"name", "period_seconds"}, "waf.traffic_alarm")
    name, period = _str(traffic, "name", "waf.traffic_alarm"), _int(traffic, "period_seconds", "waf.traffic_alarm")
    if period < 10:
        raise ConfigError(f"waf.traffic_alarm.period_seconds: the alarm's period, at least 10 (got {period})")
    triggers = raw.get("trigger_alarms", [name])
    if not isinstance(triggers, list) or not triggers or not all(isinstance(t, str) and t for t in triggers):
        raise ConfigError("waf.trigger_alarms: names of the account's alarms whose incidents turn rate limiting on")
    return {"trigger_alarms": list(triggers), "traffic_alarm": name, "traffic_multiplier": None,
            "alarm_period_seconds": period}


def _rollback(raw: dict[str, Any], alarm_names: set[str], *, hub: tuple[str, str],
              organization: dict[str, Any]) -> dict[str, Any]:
    _no_unknown(raw, {"severities", "bake_minutes", "outcome_minutes", "targets"}, "rollback")
    severities = raw.get("severities")
    if not isinstance(severities, list) or not severities or any(s not in SEVERITIES for s in severities):
        raise ConfigError(f"rollback.severities: a list of {', '.join(SEVERITIES)}")
    result: dict[str, Any] = {"severities": severities, "targets": {}}
    for key in ("bake_minutes", "outcome_minutes"):
        result[key] = _int(raw, key, "rollback")
        if result[key] < 1:
            raise ConfigError(f"rollback.{key}: must be at least 1")
    seen_alarms: dict[tuple[str, str, str], str] = {}
    for name, spec in _mapping(raw.get("targets"), "rollback.targets").items():
        where = f"rollback.targets.{name}"
        spec = _mapping(spec, where)
        kind = spec.get("kind")
        if kind not in ROLLBACK_KINDS:
            raise ConfigError(f"{where}.kind: must be one of {', '.join(ROLLBACK_KINDS)}")
        _no_unknown(spec, ROLLBACK_KINDS[kind] | {"kind", "alarms", "account", "region"}, where)
        account, region = target_location(spec, where, hub_account=hub[0], hub_region=hub[1], organization=organization)
        for key in ROLLBACK_KINDS[kind] - {"entry_paths"}:
            _str(spec, key, where)
        if kind == "static-site":
            paths = spec.get("entry_paths")
            if not isinstance(paths, list) or not paths or any(not str(p).startswith("/") or "*" in str(p)
                                                                for p in paths):
                raise ConfigError(f"{where}.entry_paths: absolute paths, no wildcards (invalidate entries, not /*)")
        alarms = spec.get("alarms")
        if not isinstance(alarms, list) or not alarms:
            raise ConfigError(f"{where}.alarms: the alarms whose incidents may roll this target back")
        for alarm in alarms:
            if (account, region) == hub and alarm not in alarm_names:
                # A name no configured alarm has would never trigger: this target's rollback would be dead.
                # (A member account's alarms are its own: the hub hears them through its spoke.)
                raise ConfigError(f"{where}.alarms: {alarm!r} is not one of the configured alarms "
                                  f"({', '.join(sorted(alarm_names))})")
            if not isinstance(alarm, str) or not 0 < len(alarm) <= 255:
                raise ConfigError(f"{where}.alarms: {alarm!r} is not an alarm name")
            # The same name in two accounts is two alarms: each may roll back its own account's target.
            if (account, region, alarm) in seen_alarms:
                raise ConfigError(f"{where}.alarms: {alarm} already rolls back {seen_alarms[account, region, alarm]}")
            seen_alarms[account, region, alarm] = name
        result["targets"][name] = dict(spec) | {"account": account, "region": region}
    return result


def _maintenance(raw: dict[str, Any], schedules: dict[str, str], components: set[str]) -> dict[str, Any]:
    _no_unknown(raw, MAINTENANCE_KEYS, "maintenance")
    url = _str(raw, "health_check_url", "maintenance")
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", url):
        raise ConfigError(f"maintenance.health_check_url: {url!r} is not an http(s) URL")
    result: dict[str, Any] = {"health_check_url": url, "windows": {}}
    for key in ("default_minutes", "max_minutes"):
        result[key] = _int(raw, key, "maintenance")
    if not 1 <= result["default_minutes"] <= result["max_minutes"]:
        raise ConfigError("maintenance.default_minutes: must be between 1 and max_minutes")
    for name, spec in _mapping(raw.get("windows") or {}, "maintenance.windows").items():
        where = f"maintenance.windows.{name}"
        spec = _mapping(spec, where)
        _no_unknown(spec, WINDOW_KEYS, where)
        if name not in schedules or not schedules[name].startswith("cron("):
            raise ConfigError(f"{where}: a window opens when the cron schedule of the same name fires; "
                              f"schedules.{name} is {'not cron' if name in schedules else 'missing'}")
        minutes = _int(spec, "duration_minutes", where)
        if not 1 <= minutes <= min(result["max_minutes"], MUTE_RULE_MAX_MINUTES):
            raise ConfigError(f"{where}.duration_minutes: between 1 and max_minutes ({result['max_minutes']})")
        scope = {key: spec.get(key) or [] for key in ("components", "alarms")}
        for key, values in scope.items():
            if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
                raise ConfigError(f"{where}.{key}: a list of names")
        unknown = sorted(set(scope["components"]) - components)
        if unknown:
            raise ConfigError(f"{where}.components: {unknown[0]!r} is no alarm's or rule's component "
                              f"(known: {', '.join(sorted(components))})")
        result["windows"][name] = {"duration_minutes": minutes, "message": _str(spec, "message", where), **scope,
                                   "mute_alarm_actions": bool(spec.get("mute_alarm_actions", False))}
    return result


def _escalation(raw: dict[str, Any], severities: dict[str, dict[str, Any]]) -> dict[str, Any]:
    _no_unknown(raw, {"max_levels", "resolve_minutes", "max_unclassified_severity"}, "escalation")
    levels = _int(raw, "max_levels", "escalation")
    if not 1 <= levels <= 5:
        raise ConfigError("escalation.max_levels: between 1 and 5 escalations per incident")
    targets = _mapping(raw.get("resolve_minutes"), "escalation.resolve_minutes")
    if sorted(targets) != list(SEVERITIES):
        raise ConfigError(f"escalation.resolve_minutes: one resolution target per severity {', '.join(SEVERITIES)}")
    for severity in SEVERITIES:
        minutes = _int(targets, severity, "escalation.resolve_minutes")
        if minutes <= severities[severity]["response_minutes"]:
            raise ConfigError(f"escalation.resolve_minutes.{severity}: must be longer than its response time "
                              f"({severities[severity]['response_minutes']} min)")
    ceiling = _severity(raw, "max_unclassified_severity", "escalation") if "max_unclassified_severity" in raw else "P1"
    return {"max_levels": levels, "resolve_minutes": {s: int(targets[s]) for s in SEVERITIES},
            "max_unclassified_severity": ceiling}


def _status_page(raw: dict[str, Any]) -> dict[str, Any]:
    _no_unknown(raw, {"title", "appear_after_minutes", "calm_minutes", "refresh"}, "status_page")
    values: dict[str, Any] = {"title": _str(raw, "title", "status_page")}
    for key in ("appear_after_minutes", "calm_minutes"):
        values[key] = _int(raw, key, "status_page")
        if values[key] < 0:
            raise ConfigError(f"status_page.{key}: must not be negative")
    values["refresh"] = validate_cron(raw.get("refresh"), "status_page.refresh")
    return values


def _reports(raw: dict[str, Any]) -> dict[str, Any]:
    _no_unknown(raw, {"availability_target", "daily", "weekly", "monthly", "incident_report_severities"}, "reports")
    target = _number(raw, "availability_target", "reports")
    if not 0 < target < 100:
        raise ConfigError("reports.availability_target: a percentage between 0 and 100 (runbook: 99.9)")
    severities = raw.get("incident_report_severities")
    if not isinstance(severities, list) or any(s not in SEVERITIES for s in severities):
        raise ConfigError(f"reports.incident_report_severities: a list of {', '.join(SEVERITIES)}")
    return {"availability_target": target, "incident_report_severities": severities,
            **{period: validate_cron(raw.get(period), f"reports.{period}") for period in ("daily", "weekly", "monthly")}}


BACKUP_KEYS = {"vault_name", "tag_key", "rpo_tag_key", "rto_tag_key", "classes", "rto_minutes", "configuration", "logs",
               "restore_testing", "verify_schedule", "cleanup", "sample_size", "tolerance_percent"}
BACKUP_CLASS_KEYS = {"schedule", "retention_days", "rpo_minutes", "rto_tier", "continuous"}
RESTORE_TIERS = ("critical", "core", "full")


def _backup(raw: dict[str, Any]) -> dict[str, Any]:
    where = "backup"
    _no_unknown(raw, BACKUP_KEYS, where)
    result: dict[str, Any] = {key: _str(raw, key, where) for key in ("vault_name", "tag_key", "rpo_tag_key", "rto_tag_key")}
    result["verify_schedule"] = validate_cron(raw.get("verify_schedule"), "backup.verify_schedule")
    rto = _mapping(raw.get("rto_minutes"), "backup.rto_minutes")
    if sorted(rto) != sorted(RESTORE_TIERS):
        raise ConfigError(f"backup.rto_minutes: one per tier: {', '.join(RESTORE_TIERS)} (runbook: 60, 240, 1440)")
    result["rto_minutes"] = {tier: _int(rto, tier, "backup.rto_minutes") for tier in RESTORE_TIERS}
    classes = _mapping(raw.get("classes"), "backup.classes")
    if not classes:
        raise ConfigError("backup.classes: at least one backup class")
    result["classes"] = {}
    for name, spec in classes.items():
        here = f"backup.classes.{name}"
        spec = _mapping(spec, here)
        _no_unknown(spec, BACKUP_CLASS_KEYS, here)
        schedule = validate_cron(spec.get("schedule"), f"{here}.schedule")
        retention, rpo = _int(spec, "retention_days", here), _int(spec, "rpo_minutes", here)
        if retention < 1 or rpo < 1:
            raise ConfigError(f"{here}: retention_days and rpo_minutes must be positive")
        if spec.get("rto_tier") not in RESTORE_TIERS:
            raise ConfigError(f"{here}.rto_tier: one of {', '.join(RESTORE_TIERS)}")
        if spec.get("continuous") and retention > 35:
            raise ConfigError(f"{here}.retention_days: continuous backup keeps at most 35 days")
        result["classes"][name] = {"schedule": schedule, "retention_days": retention, "rpo_minutes": rpo,
                                   "rto_tier": spec["rto_tier"], "continuous": bool(spec.get("continuous", False))}
    configuration = _mapping(raw.get("configuration"), "backup.configuration")
    _no_unknown(configuration, {"bucket", "retention_days"}, "backup.configuration")
    logs = _mapping(raw.get("logs"), "backup.logs")
    _no_unknown(logs, {"retention_days", "log_group_prefix"}, "backup.logs")
    result["configuration"] = {"bucket": _str(configuration, "bucket", "backup.configuration"),
                               "retention_days": _int(configuration, "retention_days", "backup.configuration")}
    result["logs"] = {"retention_days": _int(logs, "retention_days", "backup.logs"),
                      "log_group_prefix": _str(logs, "log_group_prefix", "backup.logs")}
    testing = _mapping(raw.get("restore_testing"), "backup.restore_testing")
    _no_unknown(testing, {"schedule", "validation_window_hours", "critical_schedule", "critical_every_days"},
                "backup.restore_testing")
    result["restore_testing"] = {
        "schedule": validate_cron(testing.get("schedule"), "backup.restore_testing.schedule"),
        "critical_schedule": validate_cron(testing.get("critical_schedule"), "backup.restore_testing.critical_schedule"),
        "critical_every_days": _int(testing, "critical_every_days", "backup.restore_testing"),
        "validation_window_hours": _int(testing, "validation_window_hours", "backup.restore_testing")}
    cleanup = _mapping(raw.get("cleanup"), "backup.cleanup")
    _no_unknown(cleanup, {"delete_orphans", "max_deletions_per_run"}, "backup.cleanup")
    result["cleanup"] = {"delete_orphans": bool(cleanup.get("delete_orphans", False)),
                         "max_deletions_per_run": _int(cleanup, "max_deletions_per_run", "backup.cleanup")}
    result["sample_size"] = _int(raw, "sample_size", where)
    result["tolerance_percent"] = _number(raw, "tolerance_percent", where)
    if not 0 <= result["tolerance_percent"] < 100:
        raise ConfigError("backup.tolerance_percent: between 0 and 100")
    return result

