"""The runbook's classification table, applied through the demo config."""

from datetime import datetime, timezone

import pytest

from classification import classify
from controlplane.policy import Policy
from factories import eventbridge_alarm, transition_of

AT = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def policy(config) -> Policy:
    return Policy(config.policy())


def triage_of(config, policy, key: str, value: float | None, tagged: bool = True):
    spec = config.alarm(key)
    event = eventbridge_alarm(spec.name, "ALARM", AT, value=value, namespace=spec.namespace, metric=spec.metric_name,
                              description=spec.tagged_description if tagged else spec.description)
    return classify(transition_of(event), policy)


@pytest.mark.parametrize(("key", "value", "severity", "hint"), [
    ("health", 0.0, "P0", "rollback"),                        # System Down
    ("availability", 99.5, "P1", "rollback"),                 # Availability < 99.9% → P1
    ("traffic-spike", 250_000, "P1", "waf-rate-limit"),       # > 10x normal → rate limiting
    ("error-rate", 7.0, "P2", "check-application-logs"),      # > 5%
    ("error-rate", 12.0, "P1", "check-application-logs"),     # High Error Rate > 10%
    ("response-time", 2500, "P2", "investigate-performance"),  # > 2 seconds
    ("storage", 85, "P2", "plan-capacity"),                   # Resource Warning > 80%
    ("storage", 95, "P1", "plan-capacity"),                   # Resource Exhaustion > 90%
    ("error-rate", None, "P2", "check-application-logs"),     # no datapoint: the alarm's own severity
])
def test_runbook_metric_table(config, policy, key, value, severity, hint) -> None:
    result = triage_of(config, policy, key, value)
    assert (result.severity, result.remediation, result.alarm_key) == (severity, hint, key)
    assert result.decided_by == "alarm-tag"


def test_configured_alarm_without_its_tag_is_classified_from_config(config, policy) -> None:
    result = triage_of(config, policy, "health", 0.0, tagged=False)
    assert (result.severity, result.decided_by, result.component) == ("P0", "config-alarm", "Web Application")


def test_another_teams_alarm_cannot_order_us_about_with_a_tag(policy) -> None:
    """Anyone who can create an alarm can write `[ops: …]` into its description: another team's alarm
    in our account asking for WAF blocking is classified by the rules, with no remediation."""
    event = eventbridge_alarm("other-team-queue-depth", "ALARM", AT, namespace="AWS/SQS", metric="AgeOfOldestMessage",
                              description="Queue backing up [ops: severity=P0 remediation=waf-rate-limit]")
    result = classify(transition_of(event), policy)
    assert (result.severity, result.remediation, result.decided_by) == ("P2", None, "default")


def test_our_alarm_name_in_another_account_is_not_our_alarm(config) -> None:
    """Identity is the ARN: a trusted partner account's alarm named like ours gets neither our
    alarm's configuration nor, without trust_tags, its description's tags."""
    raw = config.policy()
    raw["intake"]["allowed_accounts"]["999999999999"] = {"trust_tags": False}
    spec = config.alarm("availability")
    event = eventbridge_alarm(spec.name, "ALARM", AT, value=99.0, namespace=spec.namespace, metric=spec.metric_name,
                              description=spec.tagged_description, account="999999999999")
    result = classify(transition_of(event), Policy(raw))
    assert (result.severity, result.remediation, result.alarm_key) == ("P2", None, None)


def test_tags_of_an_allowed_account_configured_to_be_trusted_are_honoured(config) -> None:
    raw = config.policy()
    raw["intake"]["allowed_accounts"]["210987654321"] = {"trust_tags": True}
    event = eventbridge_alarm("team-x-queue-age", "ALARM", AT, namespace="AWS/SQS", metric="AgeOfOldestMessage",
                              description="Queue backing up [ops: severity=P1 remediation=scale-consumers]",
                              account="210987654321")
    result = classify(transition_of(event), Policy(raw))
    assert (result.severity, result.remediation, result.decided_by) == ("P1", "scale-consumers", "alarm-tag")


@pytest.mark.parametrize(("name", "namespace", "metric", "severity", "rule"), [
    ("checkout-outage", "AWS/ELB", "HTTPCode_ELB_5XX_Count", "P0", "rule:outage-named"),
    ("iam-unauthorized-calls", "CloudTrailMetrics", "UnauthorizedAPICalls", "P1", "rule:security"),
    ("payments-errors", "AWS/Lambda", "Errors", "P2", "rule:lambda-errors"),
    ("orders-db-disk", "AWS/RDS", "FreeStorageSpace", "P1", "rule:rds-storage"),
    ("someone-elses-alarm", "Custom/Thing", "Widgets", "P2", "default"),
])
def test_alarms_from_outside_the_stacks(policy, name, namespace, metric, severity, rule) -> None:
    event = eventbridge_alarm(name, "ALARM", AT, namespace=namespace, metric=metric)
    result = classify(transition_of(event), policy)
    assert (result.severity, result.decided_by) == (severity, rule)
    assert result.impact  # every severity carries its runbook description as a fallback impact
