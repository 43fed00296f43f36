import json
from datetime import datetime, timezone

import pytest

from alarm_parsing import AlarmTransition, Rejection, parse_delivery
from factories import alarm_arn, eventbridge_alarm, sns_alarm, transition_of

AT = datetime(2026, 11, 26, 9, 14, 3, 123000, tzinfo=timezone.utc)
NAME = "financeanalyst-pro-demo-error-rate"


@pytest.mark.parametrize("shape", ["single", "math"])
def test_eventbridge_metric_alarms(shape: str) -> None:
    event = eventbridge_alarm(NAME, "ALARM", AT, dimensions={"DistributionId": "E1"}, value=12.5, shape=shape)
    transition = transition_of(event)
    assert (transition.alarm_arn, transition.new_state, transition.previous_state) == (alarm_arn(NAME), "ALARM", "OK")
    assert (transition.namespace, transition.metric_name) == ("AWS/CloudFront", "5xxErrorRate")
    assert transition.dimensions == {"DistributionId": "E1"}
    assert transition.changed_at == AT and transition.datapoint == 12.5 and not transition.composite
    assert transition.path == "eventbridge" and transition.region == "us-east-1"


def test_eventbridge_composite_alarm_has_no_metric() -> None:
    transition = transition_of(eventbridge_alarm("checkout-composite", "ALARM", AT, shape="composite"))
    assert transition.composite and transition.namespace is None and transition.datapoint is None


@pytest.mark.parametrize("shape", ["single", "math"])
def test_sns_notifications_with_metric_name_or_metrics(shape: str) -> None:
    event = sns_alarm(NAME, "ALARM", AT, dimensions={"DistributionId": "E1"}, value=12.5, shape=shape)
    transition = transition_of(event)
    assert (transition.namespace, transition.metric_name) == ("AWS/CloudFront", "5xxErrorRate")
    assert transition.dimensions == {"DistributionId": "E1"}
    assert transition.datapoint == 12.5 and transition.path == "sns"


def test_sns_composite_and_long_region_name_without_arn() -> None:
    event = sns_alarm("eu-checkout", "OK", AT, shape="composite", region_name="EU (Ireland)", include_arn=False)
    transition = transition_of(event)
    assert transition.alarm_arn == "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:eu-checkout"
    assert transition.region == "eu-west-1" and transition.composite


def test_same_transition_by_both_paths_has_one_fingerprint() -> None:
    by_bus = transition_of(eventbridge_alarm(NAME, "ALARM", AT))
    by_sns = transition_of(sns_alarm(NAME, "ALARM", AT))
    later = transition_of(eventbridge_alarm(NAME, "ALARM", AT.replace(second=4)))
    resolved = transition_of(eventbridge_alarm(NAME, "OK", AT))
    assert by_bus.fingerprint == by_sns.fingerprint
    assert len({by_bus.fingerprint, later.fingerprint, resolved.fingerprint}) == 3


def _broken_state(event: dict) -> dict:
    event["detail"]["state"]["value"] = "PANIC"
    return event


def _no_resources(event: dict) -> dict:
    event["resources"] = []
    return event


def _bad_timestamp(event: dict) -> dict:
    event["detail"]["state"]["timestamp"] = "yesterday"
    return event


@pytest.mark.parametrize(("mutate", "reason"), [
    (_broken_state, "unknown alarm state 'PANIC'"),
    (_no_resources, "resources does not name the alarm ARN"),
    (_bad_timestamp, "Invalid isoformat string"),
])
def test_malformed_eventbridge_events_are_rejected_with_a_reason(mutate, reason: str) -> None:
    result = parse_delivery(mutate(eventbridge_alarm(NAME, "ALARM", AT)))
    assert isinstance(result[0], Rejection) and reason in result[0].reason


def test_one_bad_sns_record_does_not_hide_the_others() -> None:
    good = sns_alarm(NAME, "ALARM", AT)["Records"][0]
    bad = json.loads(json.dumps(good))
    bad["Sns"]["Message"] = "{not json"
    results = parse_delivery({"Records": [bad, good]})
    assert isinstance(results[0], Rejection) and "not JSON" in results[0].reason
    assert isinstance(results[1], AlarmTransition)


@pytest.mark.parametrize("event", [None, [], "text", {"Records": []}, {"detail-type": "EC2 Instance State-change"}])
def test_non_alarm_payloads_are_rejections(event) -> None:
    results = parse_delivery(event)
    assert results and all(isinstance(r, Rejection) and r.reason for r in results)
