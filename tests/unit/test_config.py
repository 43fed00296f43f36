import copy
import re

import pytest
import yaml

from controlplane.config import parse_config, validate_cron
from controlplane.errors import ConfigError
from paths import DEMO_CONFIG
from variants import API_RAW, with_hub_waf

RAW = yaml.safe_load(DEMO_CONFIG.read_text())


def broken(change, base: dict | None = None) -> dict:
    """A copy of the demo's raw config (or of `base`), changed."""
    raw = copy.deepcopy(base or RAW)
    change(raw)
    return raw


def test_demo_config_carries_the_runbook(config) -> None:
    assert config.prefix == "financeanalyst-pro-demo"
    assert {s.key for s in config.alarms} == {"response-time", "performance-degradation", "error-rate", "availability",
                                              "traffic-spike", "storage", "health", "fire-drill"}
    drill = config.alarm("fire-drill")  # the control plane's own, for `opsctl drill`
    assert (drill.name, drill.severity, drill.remediation) == ("financeanalyst-pro-demo-fire-drill", "P3", "none")
    assert drill.component not in config.policy()["components"]  # never on the status page
    assert [config.severities[s]["response_minutes"] for s in ("P0", "P1", "P2", "P3")] == [15, 60, 240, 1440]
    assert config.alarm("traffic-spike").threshold == 200_000  # 10x the configured baseline
    assert config.alarm("error-rate").threshold == 5 and config.alarm("response-time").threshold == 2000
    assert config.alarm("availability").threshold == 99.9 and config.alarm("storage").threshold == 80
    degradation = config.alarm("performance-degradation")  # >50 % worse than the same hour last week
    assert (degradation.severity, degradation.multiplier, degradation.baseline_weeks) == ("P0", 1.5, 1)


def test_policy_hash_is_the_config_version(config) -> None:
    policy = config.policy()
    assert len(policy["config_version"]) == 12
    assert policy == config.policy()  # deterministic
    other = parse_config(broken(lambda r: r["alarms"]["error-rate"].update(threshold=6)))
    assert other.policy()["config_version"] != policy["config_version"]


@pytest.mark.parametrize(("change", "message"), [
    (lambda r: r.update(colour="blue"), "colour: unknown key"),
    (lambda r: r["alarms"]["storage"].update(treshold=80), "alarms.storage.treshold: unknown key"),
    (lambda r: r["schedules"].update(backup="cron(0 25 * * ? *)"), "schedules.backup: bad hours field '25'"),
    (lambda r: r["schedules"].update(backup="cron(0 2 * * MON *)"), "exactly one of day-of-month and day-of-week"),
    (lambda r: r["schedules"].update(backup="0 2 * * *"), "is not cron(minutes hours"),
    (lambda r: r["alarms"]["error-rate"].update(threshold=150), "impossible for a percentage metric"),
    (lambda r: r["alarms"]["health"].update(threshold=0), "can never fire"),
    (lambda r: r["alarms"]["error-rate"].update(bands=[{"above": 3, "severity": "P1"}]), "must be beyond the alarm"),
    (lambda r: r["alarms"]["traffic-spike"].update(multiplier=0.5), "multiplier above 1"),
    (lambda r: r["alarms"]["traffic-spike"].update(baseline_weeks=0), "alarms.traffic-spike.baseline_weeks: 1 to 12"),
    (lambda r: r["alarms"]["storage"].update(min_threshold=50),
     "alarms.storage: baseline_weeks and min_threshold go with baseline and multiplier"),
    (lambda r: r["alarms"]["health"].update(baseline=1, multiplier=2, baseline_weeks=1) or r["alarms"]["health"].pop(
        "threshold"), "alarms.health: baseline × multiplier is for an alarm on a rise"),
    (lambda r: [r["alarms"]["traffic-spike"].pop(k) for k in ("baseline", "multiplier", "baseline_weeks")]
     and r["alarms"]["traffic-spike"].update(threshold=1000), "alarms.traffic-spike: give baseline and multiplier"),
    (lambda r: r["alarms"].update({"fire-drill": r["alarms"]["health"]}), "alarms.fire-drill: reserved"),
    (lambda r: r["drill"].update(timeout_seconds=900), "drill.timeout_seconds: must be 60–420"),
    (lambda r: r["investigate"].update(log_groups="/app"), "investigate.log_groups: a list of CloudWatch Logs"),
    (lambda r: r["investigate"].update(log_groups=[f"/app/{n}" for n in range(51)]), "at most 50 log groups"),
    (lambda r: r["rollback"]["targets"]["api"]["alarms"].append("financeanalyst-pro-demo-eror-rate"),
     "rollback.targets.api.alarms: 'financeanalyst-pro-demo-eror-rate' is not one of the configured alarms"),
    (lambda r: r["alarms"]["error-rate"]["metric"].update(dimensions={}),
     "alarms.error-rate.metric.dimensions: AWS/CloudFront 5xxErrorRate needs the dimensions"),
    (lambda r: r["drill"].update(schedule="weekly"), "drill.schedule: 'weekly' is not cron("),
    (lambda r: r["contacts"].pop("P2"), "contacts.P2: severity P2 has no contact"),
    (lambda r: r["contacts"].update(P3=["not-an-email"]), "contacts.P3: 'not-an-email' is not an email"),
    (lambda r: r["alarms"]["health"].update(severity="P5"), "alarms.health.severity: 'P5' is not one of"),
    (lambda r: r["severities"]["P2"].update(response_minutes=30), "severities.P2.response_minutes"),
    (lambda r: r.update(timezone="Mars/Olympus"), "timezone: unknown time zone"),
    (lambda r: r["classification"]["rules"].append({"name": "x", "severity": "P1"}), "needs alarm_name, namespace"),
    (lambda r: r["classification"]["rules"].append({"name": "x", "severity": "P1", "alarm_name": "("}),
     "not a regular expression"),
    (lambda r: r["triage"].update(intake_retry_attempts=5), "Lambda allows 0–2 async retries"),
    (lambda r: r["maintenance"]["windows"].update(patching={"duration_minutes": 60, "message": "m"}),
     "maintenance.windows.patching: a window opens when the cron schedule of the same name fires; "
     "schedules.patching is missing"),
    (lambda r: r["maintenance"]["windows"]["database-maintenance"].update(components=["Databse"]),
     "maintenance.windows.database-maintenance.components: 'Databse' is no alarm's or rule's component"),
    (lambda r: r["maintenance"]["windows"]["database-maintenance"].update(duration_minutes=721),
     "maintenance.windows.database-maintenance.duration_minutes: between 1 and max_minutes (720)"),
    (lambda r: r["maintenance"].update(health_check_url="app.financeanalyst.pro"), "is not an http(s) URL"),
    (lambda r: r["maintenance"].update(default_minutes=0), "maintenance.default_minutes: must be between"),
    (lambda r: r["escalation"].update(max_unclassified_severity="P9"), "escalation.max_unclassified_severity: 'P9'"),
    (lambda r: r["noise"].update(reopen_minutes=-1), "noise.reopen_minutes: between 0 (never reopen) and 1440"),
    (lambda r: r["noise"].update(flap_pages=1), "noise.flap_pages: unknown key"),
    (lambda r: r["noise"].update(group_window_seconds=7200), "noise.group_window_seconds: between 0 (never group)"),
    (lambda r: r.update(notifications={"channels": {"sms": {"P1": ["+15550100123"]}}}),
     "notifications.channels.sms.P1: unknown key (allowed: P0)"),
    (lambda r: r.update(notifications={"channels": {"sms": {"P0": ["555-0100"]}}}),
     "notifications.channels.sms.P0: '555-0100' is not a valid E.164 phone number (e.g. +15550100123)"),
    (lambda r: r.update(notifications={"channels": {"slack": {"P1": ["#alerts"]}}, "slack_workspace_id": "T0123ABCDE"}),
     "notifications.channels.slack.P1: '#alerts' is not a valid Slack channel id"),
    (lambda r: r.update(notifications={"channels": {"slack": {"P0": ["C0PRODALRT"]}}}),
     "notifications.slack_workspace_id: the Slack workspace id authorized"),
    # A routing key pasted where the service's name goes is refused (keys go in Secrets Manager).
    (lambda r: r.update(notifications={"channels": {"pagerduty": {"P0": ["R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY12"]}}}),
     "notifications.channels.pagerduty.P0: 'R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY12' is not a valid PagerDuty service name"),
    (lambda r: r.update(notifications={"channels": {"pagerduty": {"P0": ["oncall"]}}, "pagerduty_region": "apac"}),
     "notifications.pagerduty_region: one of us, eu"),
    (lambda r: r.update(notifications={"channels": {}, "pagerduty_region": "eu"}),
     "notifications.pagerduty_region: no PagerDuty service is configured"),
    (lambda r: r.update(drift={"stacks": ["arn:aws:cloudformation:us-east-1:123456789012:stack/web/1"]}),
     "drift.stacks: a list of CloudFormation stack names"),
    (lambda r: r.update(drift={"frequency": "Daily"}), "drift.frequency: one of One_Hour, Three_Hours, Six_Hours"),
    (lambda r: r.update(drift={"stack": ["web"]}), "drift.stack: unknown key"),
    (lambda r: r["alarms"]["error-rate"].update(bands=[{"above": 10, "severity": "P2"}]),
     "alarms.error-rate.bands[0].severity: P2 must be more severe than the alarm's own P2"),
    (lambda r: r["alarms"]["error-rate"].update(bands=[{"above": 10, "severity": "P1"}, {"above": 20, "severity": "P1"}]),
     "alarms.error-rate.bands: one band per severity"),
    (lambda r: r["alarms"].update({"error-rate-p1": r["alarms"]["response-time"]}),
     "alarms.error-rate-p1: that name is taken by alarms.error-rate's P1 band alarm"),
    (lambda r: r["alarms"]["storage"]["expression"].update(formula="100 * (1 - fre / 5)"),
     "alarms.storage.expression.formula: 'fre' is neither one of the metrics (free) nor a metric math function"),
    (lambda r: r["alarms"]["storage"]["expression"].update(formula="SEARCH('{AWS/RDS} FreeStorageSpace', 'Minimum')"),
     "'SEARCH' is neither one of the metrics"),
    (lambda r: r["alarms"]["storage"]["expression"].update(formula="100 * (1 - free / 5"), "unbalanced parentheses"),
    (lambda r: r["alarms"]["storage"]["expression"].update(formula="free % 5"), "cannot read '% 5'"),
    (lambda r: r["alarms"]["storage"]["expression"]["metrics"].update(
        used={"namespace": "AWS/RDS", "name": "FreeableMemory", "statistic": "Minimum",
              "dimensions": {"DBInstanceIdentifier": "db"}}), "the formula does not read used"),
    (lambda r: r["alarms"]["storage"]["expression"]["metrics"].update(
        {f"m{n}": {"namespace": "App", "name": "X", "statistic": "Sum"} for n in range(10)}),
     "alarms.storage.expression.metrics: 1 to 10 metrics"),
    (lambda r: r["alarms"]["storage"]["expression"]["metrics"].update(
        Free={"namespace": "App", "name": "X", "statistic": "Sum"}),
     "alarms.storage.expression.metrics.Free: an id starts with a lower-case letter"),
    (lambda r: r["alarms"]["storage"]["expression"]["metrics"]["free"].update(dimensions={"DBInstanceIdentifier": ""}),
     "alarms.storage.expression.metrics.free.dimensions: a dimension's value may not be empty"),
    (lambda r: r["alarms"]["storage"].update(metric=r["alarms"]["error-rate"]["metric"]),
     "alarms.storage: give either metric (one CloudWatch metric) or expression"),
    (lambda r: r["alarms"]["traffic-spike"].update(expression=r["alarms"]["storage"]["expression"]) or
     r["alarms"]["traffic-spike"].pop("metric"), "baseline × multiplier needs one metric, not an expression"),
    (lambda r: r.pop("synthetics"),
     "alarms.availability: watches the canary financeanalyst-pro-demo-health, which runs only with a synthetics:"),
    (lambda r: r["synthetics"].update(url="http://app.financeanalyst.pro/health"), "synthetics.url: an https URL"),
    (lambda r: r["synthetics"].update(every_minutes=1, timeout_seconds=56), "synthetics.timeout_seconds: at least 1"),
    (lambda r: r["noise"].update(update_interval_minutes=0), "noise.update_interval_minutes: between 1 and 1440"),
    (lambda r: r["noise"].update(storm_threshold=1), "noise.storm_threshold: 0 (off) or between 2 and 1000"),
])
def test_invalid_config_names_the_key(change, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(broken(change))
    assert message in str(raised.value)


@pytest.mark.parametrize("expression", [
    "cron(0 9 * * ? *)", "cron(0 14 ? * WED *)", "cron(0 9 ? * MON#1 *)", "cron(0 9 ? * MON#3 *)",
    "cron(0/15 8-18 ? * MON-FRI *)", "cron(0 2 L * ? *)", "rate(1 hour)", "cron(30 6 ? JAN,JUL 2L 2027)",
])
def test_valid_scheduler_expressions(expression: str) -> None:
    assert validate_cron(expression, "x") == expression


@pytest.mark.parametrize("expression", [
    "cron(60 9 * * ? *)", "cron(0 9 ? * MON#6 *)", "cron(0 9 * * * *)", "cron(0 9 ? * FUNDAY *)", "rate(0 hours)",
])
def test_invalid_scheduler_expressions(expression: str) -> None:
    with pytest.raises(ConfigError):
        validate_cron(expression, "x")


def test_the_production_example_is_valid_and_differs_where_it_should() -> None:
    from controlplane.config import load_config
    from paths import ROOT

    production = load_config(ROOT / "config" / "production.example.yaml")
    assert production.prefix == "financeanalyst-pro-production" and production.account == "111122223333"
    assert production.alarm("traffic-spike").threshold == 850_000
    assert production.rollback["targets"]["api"]["function"] == "financeanalyst-pro-production-api"
    assert production.version != load_config(DEMO_CONFIG).version


@pytest.mark.parametrize(("change", "message"), [
    (lambda r: r["intake"].update(allowed_accounts=["12345"]), "intake.allowed_accounts[0].account: must be a 12-digit"),
    (lambda r: r["intake"].update(allowed_accounts=["123456789012"]), "is this deployment's own account"),
    (lambda r: r["intake"].update(allowed_accounts=[{"account": "210987654321", "trust_tags": "yes"}]),
     "intake.allowed_accounts[0].trust_tags: true or false"),
    (lambda r: r["intake"].update(suspicious_claims_per_hour=0), "intake.suspicious_claims_per_hour"),
    (lambda r: r.update(deployers=["release-pipeline"]), "deployers: a list of IAM role or user ARNs"),
    (lambda r: r["waf"].update(trigger_alarms=["traffic-spiek"]), "waf.trigger_alarms: keys of alarms"),
])
def test_trust_settings_are_validated(change, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config(broken(change))


def test_trust_settings_compile_to_identities(config) -> None:
    raw = broken(lambda r: r["intake"].update(allowed_accounts=["210987654321",
                                                                {"account": "345678901234", "trust_tags": True}]))
    policy = parse_config(raw).policy()
    assert policy["intake"]["allowed_accounts"] == {"123456789012": {"trust_tags": True},
                                                   "210987654321": {"trust_tags": False},
                                                   "345678901234": {"trust_tags": True}}
    assert policy["waf"]["trigger_alarm_arns"] == [
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:financeanalyst-pro-demo-traffic-spike"]
    assert policy["rollback"]["targets"]["api"]["alarm_arns"][0].startswith("arn:aws:cloudwatch:us-east-1:123456789012:")


LOAD_BALANCER = "arn:aws:elasticloadbalancing:{region}:111122223333:loadbalancer/app/api/50dc6c495c0c9188"
API_HUB_RAW = with_hub_waf(API_RAW)  # the example's WAF is a member account's: these test the hub's


@pytest.mark.parametrize(("raw", "change", "message"), [
    (RAW, lambda r: r.update(region="mars-east-1"), "region: 'mars-east-1' is not a Region this SDK knows"),
    (RAW, lambda r: r.update(region="eu-west-1"),
     "alarms.response-time: AWS/CloudFront metrics are published in us-east-1 only, so an alarm in eu-west-1 "
     "would watch nothing"),
    (RAW, lambda r: r["waf"].update(protects=[LOAD_BALANCER.format(region="us-east-1")]),
     "waf.protects: for scope REGIONAL"),
    (API_HUB_RAW, lambda r: r["waf"].update(scope="CLOUDFRONT", protects=[]),
     "waf.scope: CLOUDFRONT WebACLs live in us-east-1"),
    (API_HUB_RAW, lambda r: r["waf"].update(scope="GLOBAL"), "waf.scope: CLOUDFRONT (a distribution) or REGIONAL"),
    (API_HUB_RAW, lambda r: r["waf"].update(protects=[]), "waf.protects: the ARNs of the resources"),
    (API_HUB_RAW, lambda r: r["waf"].update(protects=[LOAD_BALANCER.format(region="eu-central-1")]),
     "is not in eu-west-1: a REGIONAL WebACL protects resources in its own Region"),
    (API_HUB_RAW, lambda r: r["waf"].update(protects=["arn:aws:s3:::financeanalyst-api"]),
     "is not the ARN of a load balancer, API stage"),
    (API_HUB_RAW, lambda r: r["waf"].update(existing_web_acl_id="0a1b2c3d-4e5f-6789-abcd-ef0123456789"),
     "waf.protects: not with existing_web_acl_id"),
])
def test_regions_are_any_the_sdk_knows_or_refused_with_the_reason(raw, change, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config(broken(change, raw))


def test_the_load_balancer_example_is_valid_in_its_region() -> None:
    config = parse_config(copy.deepcopy(API_RAW))
    assert (config.region, config.waf["scope"]) == ("eu-west-1", "REGIONAL")
    # Same example, any other Region the SDK knows: only its ARNs name the Region.
    moved = yaml.safe_load(yaml.safe_dump(API_RAW).replace("eu-west-1", "ap-southeast-2"))
    assert parse_config(moved).region == "ap-southeast-2"


def test_a_member_accounts_waf_is_its_owners_named_by_id_and_triggered_by_its_own_alarms() -> None:
    """The example's WAF is the shared-services account's: the policy names its alarms there, has no
    baseline multiplier of ours and no side-effect alarm of ours (the account's alarms are its own)."""
    waf = parse_config(copy.deepcopy(API_RAW)).policy()["waf"]
    assert (waf["account"], waf["region"], waf["existing_web_acl_id"]) == (
        "444455556666", "eu-west-1", "7b2f1c9e-4d3a-4e8b-9f61-2a5c8d0e3b14")
    arn = "arn:aws:cloudwatch:eu-west-1:444455556666:alarm:shared-edge-traffic-spike"
    assert (waf["traffic_alarm_arn"], waf["trigger_alarm_arns"]) == (arn, [arn])
    assert (waf["traffic_multiplier"], waf["alarm_period_seconds"], waf["side_effect_alarms"]) == (None, 300, [])
    # The hub's own WAF: its trigger alarms are keys of alarms:, named in the hub.
    hub = parse_config(with_hub_waf(API_RAW)).policy()["waf"]
    assert (hub["account"], hub["traffic_multiplier"], hub["trigger_alarm_arns"]) == (
        "111122223333", 10, ["arn:aws:cloudwatch:eu-west-1:111122223333:alarm:financeanalyst-api-production-traffic-spike"])


@pytest.mark.parametrize(("change", "message"), [
    (lambda r: r["waf"].pop("existing_web_acl_id"),
     "waf.existing_web_acl_id: the WebACL in 444455556666 is that account's own"),
    (lambda r: r["waf"].pop("traffic_alarm"), "waf.traffic_alarm: "),
    (lambda r: r["waf"]["traffic_alarm"].update(period_seconds=5), "waf.traffic_alarm.period_seconds: the alarm's period"),
    (lambda r: r["waf"].update(trigger_alarms=[""]), "waf.trigger_alarms: names of the account's alarms"),
    (lambda r: r["waf"].update(account="999988887777"), "waf.account: 999988887777 is not one of organization.accounts"),
    (lambda r: r["waf"].update(region="ap-southeast-2"), "waf.region: ap-southeast-2 is not one of organization.regions"),
    (lambda r: r["waf"].update(scope="CLOUDFRONT"),
     "waf.scope: CLOUDFRONT WebACLs live in us-east-1, so in a member account give waf.region: us-east-1"),
    (lambda r: r["waf"].update(protects=[LOAD_BALANCER.format(region="eu-west-1")]),
     "waf.protects: not with existing_web_acl_id"),
    (lambda r: r.pop("organization"), "waf: a target in another account or Region needs the organization: section"),
])
def test_a_member_accounts_waf_is_refused_with_the_reason(change, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config(broken(change, API_RAW))


def test_the_hubs_waf_takes_no_traffic_alarm_name() -> None:
    with pytest.raises(ConfigError, match=re.escape("waf.traffic_alarm: for a member account's WAF")):
        parse_config(broken(lambda r: r["waf"].update(traffic_alarm={"name": "x", "period_seconds": 60}),
                            with_hub_waf(API_RAW)))


def _without_organization(raw: dict) -> None:
    del raw["organization"]


@pytest.mark.parametrize(("change", "message"), [
    (lambda r: r["organization"].update(id="org-1"), "organization.id: 'org-1' is not an organization id"),
    (lambda r: r["organization"].update(units=[]), "organization.units: the organizational units"),
    (lambda r: r["organization"].update(units=["ou-bad"]), "organization.units"),
    (lambda r: r["organization"].update(regions=["eu-west-1", "eu-west-1"]), "organization.regions: the Regions"),
    (lambda r: r["organization"].update(regions=["mars-1"]), "organization.regions[0]: region: 'mars-1'"),
    (lambda r: r["organization"]["accounts"].update({"111122223333": {"name": "hub"}}),
     "organization.accounts.111122223333: the hub's own account"),
    (lambda r: r["organization"]["accounts"].update({"12345": {"name": "short"}}), "must be a 12-digit"),
    (lambda r: r["organization"]["accounts"].update({"555566667777": {"name": "checkout-prod"}}),
     "two accounts have the same name"),
    (lambda r: r["organization"].update(quiet_minutes=9), "organization.quiet_minutes: at least twice"),
    (lambda r: r.update(intake={"allowed_accounts": ["222233334444"]}),
     "organization.accounts.222233334444: also in intake.allowed_accounts"),
    (lambda r: r["rollback"]["targets"]["checkout"].update(account="999988887777"),
     "rollback.targets.checkout.account: 999988887777 is not one of organization.accounts"),
    (lambda r: r["rollback"]["targets"]["checkout"].update(region="us-west-2"),
     "rollback.targets.checkout.region: us-west-2 is not one of organization.regions"),
    (lambda r: r["rollback"]["targets"]["api"].update(region="eu-central-1"),
     "rollback.targets.api.region: the hub's own account is acted on in the hub's Region only"),
    (_without_organization, "rollback.targets.checkout: a target in another account or Region needs the organization"),
])
def test_an_organization_is_validated_key_by_key(change, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config(broken(change, API_HUB_RAW))


def test_without_an_organization_the_policy_says_so_and_allows_only_the_configured_accounts() -> None:
    config = parse_config(copy.deepcopy(RAW))
    policy = config.policy()
    assert policy["organization"]["enabled"] is False and policy["organization"]["accounts"] == {}
    assert set(policy["intake"]["allowed_accounts"]) == {config.account}
    organization = parse_config(copy.deepcopy(API_RAW)).policy()
    # The members are allowed (their tags believed); a target in one is matched by its own ARN there.
    assert set(organization["intake"]["allowed_accounts"]) == {"111122223333", "210987654321", "222233334444", "333344445555",
                                                                "444455556666"}
    assert organization["rollback"]["targets"]["checkout"]["alarm_arns"] == [
        "arn:aws:cloudwatch:eu-central-1:222233334444:alarm:checkout-production-error-rate"]
