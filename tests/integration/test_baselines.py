"""The hourly baseline job (reporting, task compute-baselines): every alarm given as baseline ×
multiplier gets multiplier × the median of the same hour of the week over its last N weeks as its
threshold, never below its floor; with too little history it is left alone."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from controlplane import keys
from controlplane.ledger import read_item
from opsctl import lambda_host
from opsctl.world import seed_traffic_history

T0 = datetime(2026, 11, 27, 14, 5, tzinfo=timezone.utc)
TRAFFIC = "financeanalyst-pro-demo-traffic-spike"
DEGRADATION = "financeanalyst-pro-demo-performance-degradation"


def compute(harness, *, p90_last_week: list[float] | None = None) -> dict[str, dict[str, Any]]:
    """Run the job at T0. moto's GetMetricStatistics has no percentiles, so a p90 request is answered
    in CloudWatch's documented shape (Datapoints[].ExtendedStatistics) from `p90_last_week`, the hour
    one week before T0's hour; every other request goes to moto."""
    harness.clock.set(T0)
    deps = harness.world.dependencies("reporting", harness.clock)
    cloudwatch = deps.client("cloudwatch")
    moto_statistics = cloudwatch.get_metric_statistics
    asked: list[dict[str, Any]] = []

    def get_metric_statistics(**request: Any) -> dict[str, Any]:
        if "ExtendedStatistics" not in request:
            return moto_statistics(**request)
        asked.append(request)
        week_ago = T0.replace(minute=0) - timedelta(weeks=1)
        values = p90_last_week if request["StartTime"] == week_ago else None
        return {"Label": request["MetricName"], "Datapoints": [
            {"Timestamp": request["StartTime"] + timedelta(minutes=5 * i), "ExtendedStatistics": {"p90": value},
             "Unit": "Milliseconds"} for i, value in enumerate(values or [])]}

    cloudwatch.get_metric_statistics = get_metric_statistics
    checks = lambda_host.invoke("reporting", {"task": "compute-baselines"}, deps)["checks"]
    assert all(request["ExtendedStatistics"] == ["p90"] and request["Period"] == 300 for request in asked)
    return {check["target"]: check for check in checks}


def threshold(harness, alarm: str) -> float:
    [found] = harness.world.client("cloudwatch").describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    return float(found["Threshold"])


def recorded(harness, alarm: str) -> dict[str, Any] | None:
    return read_item(harness.world.client("dynamodb"), harness.world.settings.ledger_table, keys.baseline(alarm))


def test_the_traffic_threshold_is_ten_times_the_same_hour_of_the_last_four_weeks(harness, config) -> None:
    seed_traffic_history(harness.world.session, config, T0, weeks=4, requests_per_period=18000)
    notes = compute(harness)
    assert notes[TRAFFIC]["result"] == "executed"
    assert threshold(harness, TRAFFIC) == 180000
    [alarm] = harness.world.client("cloudwatch").describe_alarms(AlarmNames=[TRAFFIC])["MetricAlarms"]
    assert alarm["AlarmDescription"] == config.alarm("traffic-spike").tagged_description  # kept as deployed
    assert (recorded(harness, TRAFFIC) or {})["threshold"] == 180000  # what lets the WAF block


def test_the_configured_multiplier_is_the_one_applied(harness, config) -> None:
    harness.use_policy(lambda policy: policy["alarms"][TRAFFIC]["baseline"].update(multiplier=5))
    seed_traffic_history(harness.world.session, config, T0, weeks=4, requests_per_period=18000)
    compute(harness)
    assert threshold(harness, TRAFFIC) == 90000


def test_response_time_half_as_long_again_as_the_same_hour_last_week_is_the_p0_threshold(harness) -> None:
    notes = compute(harness, p90_last_week=[880.0, 900.0, 950.0])
    assert notes[DEGRADATION]["result"] == "executed"
    assert threshold(harness, DEGRADATION) == 1350  # 1.5 × the median p90, 900 ms
    assert (recorded(harness, DEGRADATION) or {})["value"] == 900


def test_a_fast_week_does_not_pull_the_p0_threshold_under_its_floor(harness) -> None:
    compute(harness, p90_last_week=[300.0, 320.0])
    assert threshold(harness, DEGRADATION) == 1000  # 1.5 × 320 = 480 ms is no outage: min_threshold


def test_without_history_thresholds_stay_and_the_waf_has_no_baseline(harness, config) -> None:
    notes = compute(harness)
    assert {alarm: note["result"] for alarm, note in notes.items()} == {TRAFFIC: "skipped", DEGRADATION: "skipped"}
    assert "only 0 of 4 weeks of history" in notes[TRAFFIC]["reason"]
    assert threshold(harness, TRAFFIC) == config.alarm("traffic-spike").threshold
    assert threshold(harness, DEGRADATION) == 1200
    assert recorded(harness, TRAFFIC) is None  # so the WAF fails closed
