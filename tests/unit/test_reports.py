"""Report figures from a ledger of known incidents and decisions (the numbers are worked out by hand)."""

from __future__ import annotations

from datetime import date, datetime, timezone

from controlplane.policy import Policy
from reports import period_bounds, period_metrics, previous_period, render_incident_report, render_period

ZONE = "America/New_York"
DAY = date(2026, 11, 25)  # 05:00Z on the 25th to 05:00Z on the 26th


def incident(ident: str, severity: str, opened: str, *, acked: str | None = None, resolved: str | None = None) -> dict:
    item = {"id": ident, "severity": severity, "status": "OPEN", "opened_at": opened}
    if acked:
        item |= {"status": "ACKNOWLEDGED", "acknowledged_at": acked}
    if resolved:
        item |= {"status": "RESOLVED", "resolved_at": resolved}
    return item


INCIDENTS = [
    # Opened the day before, resolved on the day: counts for MTTR (3 h), not for "opened".
    incident("INC-2026-001", "P2", "2026-11-25T03:00:00.000Z", acked="2026-11-25T03:30:00.000Z",
             resolved="2026-11-25T06:00:00.000Z"),
    # Two overlapping P0s: 10:00–11:00 and 10:30–11:30 → 90 minutes of downtime, not 120.
    incident("INC-2026-002", "P0", "2026-11-25T10:00:00.000Z", acked="2026-11-25T10:10:00.000Z",
             resolved="2026-11-25T11:00:00.000Z"),
    incident("INC-2026-003", "P0", "2026-11-25T10:30:00.000Z", acked="2026-11-25T10:35:00.000Z",
             resolved="2026-11-25T11:30:00.000Z"),
    # Opened, never acknowledged, still open at the end of the day.
    incident("INC-2026-004", "P1", "2026-11-25T20:00:00.000Z"),
    # The next day: outside.
    incident("INC-2026-005", "P3", "2026-11-26T06:00:00.000Z"),
]
DECISIONS = [
    {"action": "waf.block", "result": "executed", "outcome": {"status": "succeeded"}},
    {"action": "waf.count", "result": "executed"},
    {"action": "rollback", "result": "skipped"},
]


def metrics(config) -> dict:
    start, end = period_bounds("daily", DAY, ZONE)
    return period_metrics(INCIDENTS, DECISIONS, start, end, Policy(config.policy()), None)


def test_period_bounds_follow_the_local_calendar() -> None:
    assert [t.isoformat() for t in period_bounds("daily", DAY, ZONE)] == ["2026-11-25T00:00:00-05:00",
                                                                           "2026-11-26T00:00:00-05:00"]
    assert period_bounds("weekly", DAY, ZONE)[0].date() == date(2026, 11, 23)  # Monday
    assert [t.date() for t in period_bounds("monthly", DAY, ZONE)] == [date(2026, 11, 1), date(2026, 12, 1)]
    at = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
    assert previous_period("daily", at, ZONE) == date(2026, 11, 30)
    assert previous_period("weekly", at, ZONE) == date(2026, 11, 29)  # the week ending Sunday 29th
    assert previous_period("monthly", at, ZONE) == date(2026, 11, 30)


def test_counts_mtta_mttr_and_what_is_still_open(config) -> None:
    m = metrics(config)
    assert m["opened"] == 3 and m["opened_by_severity"] == {"P0": 2, "P1": 1, "P2": 0, "P3": 0}
    assert m["resolved"] == 3 and m["resolved_by_severity"] == {"P0": 2, "P1": 0, "P2": 1, "P3": 0}
    assert m["still_open"] == ["INC-2026-004"]
    assert m["mtta_seconds"] == 450.0  # (10 + 5) / 2 minutes, over incidents opened that day and acknowledged
    assert m["mttr_seconds"] == 6000.0  # (180 + 60 + 60) / 3 minutes
    assert m["mttr_seconds_by_severity"]["P0"] == 3600.0 and m["mtta_seconds_by_severity"]["P1"] is None


def test_error_budget_counts_overlapping_outages_once(config) -> None:
    m = metrics(config)
    assert m["downtime_seconds"] == 5400.0
    assert m["error_budget_seconds"] == 86.4  # 0.1 % of 24 h
    assert m["error_budget_remaining_seconds"] == 86.4 - 5400.0
    assert m["availability_percent"] == 93.75


def test_automated_actions_and_outcomes(config) -> None:
    m = metrics(config)
    assert m["automated_actions"] == {"rollback skipped": 1, "waf.block executed": 1, "waf.count executed": 1}
    assert m["action_outcomes"] == {"pending": 1, "succeeded": 1}


def test_the_report_says_it(config) -> None:
    text = render_period("daily", metrics(config), "financeanalyst-pro")
    assert "- Opened: 3 (P0: 2, P1: 1, P2: 0, P3: 0)" in text
    assert "- MTTA (time to acknowledge): 8 min" in text and "- MTTR (time to resolve): 1 h 40 min" in text
    assert "EXHAUSTED" in text and "no backup verification on record" in text


def test_incident_report_follows_the_runbook_template() -> None:
    text = render_incident_report(INCIDENTS[1] | {"component": "Web Application", "impact": "Complete system outage",
                                                  "timeline": [{"at": "2026-11-25T10:00:00.000Z", "event": "opened"}]})
    assert text.splitlines()[:8] == ["## Incident Report", "", "**Incident ID:** INC-2026-002", "**Severity:** P0",
                                     "**Status:** Resolved", "**Start Time:** 2026-11-25 10:00 UTC",
                                     "**Affected Systems:** Web Application", "**Impact:** Complete system outage"]
    assert "### Timeline" in text and "- 2026-11-25 10:00:00 opened" in text and "### Next Steps" in text


def test_with_an_organization_the_report_says_where_incidents_opened(config, org_config) -> None:
    """One account: no such line. The organization's hub: each account × Region's count, busiest first."""
    assert "opened_by_account" not in metrics(config)
    where = {"INC-2026-002": ("222233334444", "eu-central-1"), "INC-2026-003": ("222233334444", "eu-central-1"),
             "INC-2026-004": ("111122223333", "eu-west-1")}
    located = [i | dict(zip(("account", "region"), where[i["id"]], strict=True)) if i["id"] in where else i
               for i in INCIDENTS]
    start, end = period_bounds("daily", DAY, ZONE)
    m = period_metrics(located, DECISIONS, start, end, Policy(org_config.policy()), None)
    assert m["opened_by_account"] == {"checkout-prod (222233334444) eu-central-1": 2, "111122223333 eu-west-1": 1}
    assert "- Opened by account and Region: checkout-prod (222233334444) eu-central-1: 2, 111122223333 eu-west-1: 1" \
        in render_period("daily", m, "financeanalyst-api")
    report = render_incident_report(located[1] | {"alarm_name": "checkout-production-error-rate"})
    assert '- Alarm: "checkout-production-error-rate" in account 222233334444 eu-central-1 (1 occurrences)' in report
