"""The weekly and monthly reports' performance trends (the runbook's P3 "Performance Trends: usage
pattern changes"): each runbook alarm's own metric (or formula) over the period, against the period
before it, with the alarm's statistic, as one datapoint per period; a change of a quarter or more is
called out as a pattern change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from controlplane.metric_values import runbook_alarm_values
from controlplane.runtime import Dependencies

PATTERN_CHANGE_PERCENT = 25.0


def performance_trends(deps: Dependencies, start: datetime, end: datetime) -> list[dict[str, Any]]:
    length = end - start
    seconds = int(length.total_seconds())
    cloudwatch = deps.client("cloudwatch")
    rows = []
    for name, alarm, values, error in runbook_alarm_values(cloudwatch, deps.policy.alarms, start - length, end, seconds):
        row: dict[str, Any] = {"alarm": name, "key": alarm.key, "label": alarm.metric_label,
                               "this": None, "previous": None, "change_percent": None, "pattern_change": False}
        if values is None:
            rows.append(row | {"error": error})
            continue
        for at, value in values.items():
            row["this" if at >= start else "previous"] = round(value, 4)
        if row["this"] is not None and row["previous"]:
            change = 100 * (row["this"] - row["previous"]) / abs(row["previous"])
            row |= {"change_percent": round(change, 1), "pattern_change": abs(change) >= PATTERN_CHANGE_PERCENT}
        rows.append(row)
    return rows


def render_trends(rows: list[dict[str, Any]]) -> list[str]:
    def shown(value: float | None) -> str:
        return "no data" if value is None else f"{value:g}"

    lines = ["| Alarm | Metric | This period | The period before | Change |", "|---|---|---|---|---|"]
    for row in rows:
        if "error" in row:
            change = f"unavailable: {row['error']}"
        elif row["change_percent"] is None:
            change = "—"
        else:
            change = f"{row['change_percent']:+g} %" + (" **pattern change**" if row["pattern_change"] else "")
        lines.append(f"| {row['key']} | {row['label']} | {shown(row['this'])} | {shown(row['previous'])} | {change} |")
    return lines
