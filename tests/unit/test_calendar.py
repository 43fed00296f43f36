"""When the runbook's schedules fire (EventBridge Scheduler cron in a time zone), and what a window covers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from controlplane.cron import occurrences, upcoming
from controlplane.maintenance import Window, covering
from controlplane.policy import Policy

NY = "America/New_York"
NOV = datetime(2026, 11, 1, tzinfo=timezone.utc)


def fires(expression: str, start: datetime = NOV, days: int = 62, zone: str = NY) -> list[str]:
    return [f"{t:%Y-%m-%dT%H:%M}" for t in occurrences(expression, zone, start, start + timedelta(days=days))]


def test_first_and_third_monday() -> None:
    assert fires("cron(0 9 ? * MON#1 *)") == ["2026-11-02T14:00", "2026-12-07T14:00"]
    assert fires("cron(0 9 ? * MON#3 *)") == ["2026-11-16T14:00", "2026-12-21T14:00"]


def test_wednesday_14_follows_daylight_saving_time() -> None:
    october = datetime(2026, 10, 26, tzinfo=timezone.utc)
    # New York leaves daylight saving time on 1 November 2026: 14:00 local moves from 18:00 to 19:00 UTC.
    assert fires("cron(0 14 ? * WED *)", october, days=10) == ["2026-10-28T18:00", "2026-11-04T19:00"]


@pytest.mark.parametrize(("expression", "expected"), [
    ("cron(0 2 L * ? *)", ["2026-11-30T07:00", "2026-12-31T07:00"]),
    ("cron(0 2 ? * 6L *)", ["2026-11-27T07:00", "2026-12-25T07:00"]),  # last Friday
    ("cron(0 2 LW * ? *)", ["2026-11-30T07:00", "2026-12-31T07:00"]),
    ("cron(0 2 1W * ? *)", ["2026-11-02T07:00", "2026-12-01T07:00", "2027-01-01T07:00"]),  # 1 Nov 2026: Sunday
    ("cron(30 8-9/1 1,15 NOV ? 2026)", ["2026-11-01T13:30", "2026-11-01T14:30", "2026-11-15T13:30",
                                        "2026-11-15T14:30"]),
])
def test_cron_features(expression: str, expected: list[str]) -> None:
    assert fires(expression) == expected


def test_rate_expressions_have_no_wall_clock_times() -> None:
    assert fires("rate(1 hour)") == []


def test_upcoming_names_windows_and_tasks_in_order(config) -> None:
    day = datetime(2026, 12, 2, 5, 0, tzinfo=timezone.utc)  # a Wednesday
    assert [(f"{t:%H:%M}", what) for t, what in upcoming(Policy(config.policy()), day, day + timedelta(hours=24))] == [
        ("14:00", "morning-checklist"), ("19:00", "database-maintenance (window, 120 min)"), ("23:00", "end-of-day")]


def window(**scope: Any) -> Window:
    return Window(id="w", message="m", starts_at="2026-11-25T19:00:00.000Z", ends_at="2026-11-25T21:00:00.000Z",
                  **scope)


INSIDE = datetime(2026, 11, 25, 20, 0, tzinfo=timezone.utc)


def test_scope_by_component_or_alarm_pattern_and_empty_means_everything() -> None:
    scoped = window(components=("Data storage",), alarms=("app-db-*",))
    assert scoped.covers("app-storage", "Data storage")
    assert scoped.covers("app-db-connections", None)
    assert not scoped.covers("app-error-rate", "Web Application")
    assert window().covers("anything", None)


def test_only_active_windows_cover_and_the_longest_wins() -> None:
    short = window()
    long = Window.from_dict(short.as_dict() | {"id": "long", "ends_at": "2026-11-25T23:00:00.000Z"})
    assert covering([short, long], "a", None, INSIDE) == long
    assert covering([short], "a", None, datetime(2026, 11, 25, 21, 0, tzinfo=timezone.utc)) is None  # end excluded
    assert covering([short], "a", None, datetime(2026, 11, 25, 18, 59, tzinfo=timezone.utc)) is None
