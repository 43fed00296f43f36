"""When an EventBridge Scheduler `cron(minutes hours day-of-month month day-of-week year)` fires, in
its time zone: for `opsctl calendar` and the checklists' "what is coming" (the same expressions the
stacks deploy). Supports `*`, `?`, lists, ranges, steps, names, `L`, `W` and `#`."""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from controlplane.policy import Policy

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")  # Scheduler numbers them 1-7
# The six fields in order: name, bounds, and the names a field may use for its numbers.
FIELDS = (("minutes", 0, 59, ()), ("hours", 0, 23, ()), ("day-of-month", 1, 31, ()), ("month", 1, 12, MONTHS),
          ("day-of-week", 1, 7, DAYS), ("year", 1970, 2199, ()))


def problem(expression: Any) -> str | None:
    """Why `expression` is not an EventBridge Scheduler `cron(...)` or `rate(...)` (None: it is one)."""
    if not isinstance(expression, str):
        return "must be a cron(...) or rate(...) string"
    rate = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression)
    if rate:
        return "rate must be at least 1" if int(rate.group(1)) < 1 else None
    match = re.fullmatch(r"cron\((.*)\)", expression)
    fields = match.group(1).split() if match else []
    if len(fields) != len(FIELDS):
        return f"{expression!r} is not cron(minutes hours day-of-month month day-of-week year)"
    for value, (name, low, high, names) in zip(fields, FIELDS, strict=True):
        if not _cron_field_ok(value, name, low, high, names):
            return f"bad {name} field {value!r} in {expression!r}"
    if (fields[2] == "?") == (fields[4] == "?"):
        return f"exactly one of day-of-month and day-of-week must be '?' in {expression!r}"
    return None


def _cron_field_ok(value: str, name: str, low: int, high: int, names: tuple[str, ...]) -> bool:
    if value == "?":
        return name in ("day-of-month", "day-of-week")
    if name == "day-of-week" and "#" in value:
        day, _, nth = value.partition("#")
        return _cron_atom_ok(day, low, high, names) and nth.isdigit() and 1 <= int(nth) <= 5
    if name == "day-of-month" and re.fullmatch(r"L|LW|\d{1,2}W", value):
        return value in ("L", "LW") or 1 <= int(value[:-1]) <= 31
    if name == "day-of-week" and re.fullmatch(r"[1-7]L|L", value):
        return True
    for part in value.split(","):
        base, _, step = part.partition("/")
        if step and not (step.isdigit() and int(step) >= 1):
            return False
        if base == "*":
            continue
        bounds = base.split("-")
        if len(bounds) > 2 or not all(_cron_atom_ok(bound, low, high, names) for bound in bounds):
            return False
    return True


def _cron_atom_ok(atom: str, low: int, high: int, names: tuple[str, ...]) -> bool:
    if atom.upper() in names:
        return True
    return atom.isdigit() and low <= int(atom) <= high



def _values(field: str, low: int, high: int, names: tuple[str, ...] = ()) -> set[int]:
    def atom(text: str) -> int:
        return names.index(text.upper()) + low if text.upper() in names else int(text)

    values: set[int] = set()
    for part in field.split(","):
        base, _, step = part.partition("/")
        if base in ("*", "?"):
            first, last = low, high
        elif "-" in base:
            first, last = (atom(bound) for bound in base.split("-"))
        else:
            first = atom(base)
            last = high if step else first
        values.update(range(first, last + 1, int(step or 1)))
    return values


def _iso_weekday_to_cron(day: date) -> int:
    return day.isoweekday() % 7 + 1  # Monday 1 → 2 … Sunday 7 → 1


def _day_matches(day: date, dom: str, dow: str) -> bool:
    last = calendar.monthrange(day.year, day.month)[1]
    if dom != "?":
        if dom == "L":
            return day.day == last
        if dom == "LW":
            target = date(day.year, day.month, last)
            while target.weekday() >= 5:
                target -= timedelta(days=1)
            return day == target
        if dom.endswith("W"):
            return day == _nearest_weekday(date(day.year, day.month, min(int(dom[:-1]), last)))
        return day.day in _values(dom, 1, 31)
    weekday = _iso_weekday_to_cron(day)
    if "#" in dow:
        name, _, nth = dow.partition("#")
        return weekday in _values(name, 1, 7, DAYS) and (day.day - 1) // 7 + 1 == int(nth)
    if dow.endswith("L"):
        wanted = _values(dow[:-1] or "7", 1, 7, DAYS)
        return weekday in wanted and day.day + 7 > last
    return weekday in _values(dow, 1, 7, DAYS)


def _nearest_weekday(day: date) -> date:
    if day.weekday() == 5:
        return day - timedelta(days=1) if day.day > 1 else day + timedelta(days=2)
    if day.weekday() == 6:
        last = calendar.monthrange(day.year, day.month)[1]
        return day + timedelta(days=1) if day.day < last else day - timedelta(days=2)
    return day


def occurrences(expression: str, zone: str, start: datetime, end: datetime) -> Iterator[datetime]:
    """Fire times (UTC) of a cron expression in [start, end); nothing for rate() expressions, which
    have no wall-clock times."""
    match = re.fullmatch(r"cron\((.*)\)", expression)
    if not match:
        return
    minutes, hours, dom, month, dow, year = match.group(1).split()
    tz = ZoneInfo(zone)
    minute_values, hour_values = sorted(_values(minutes, 0, 59)), sorted(_values(hours, 0, 23))
    month_values = _values(month, 1, 12, MONTHS)
    day = start.astimezone(tz).date()
    while datetime.combine(day, time(0), tz) < end:
        if day.month in month_values and (year == "*" or day.year in _values(year, 1970, 2199)) \
                and _day_matches(day, dom, dow):
            for hour in hour_values:
                for minute in minute_values:
                    fires = datetime.combine(day, time(hour, minute), tz).astimezone(timezone.utc)
                    if start <= fires < end:
                        yield fires
        day += timedelta(days=1)


def upcoming(policy: Policy, start: datetime, end: datetime) -> list[tuple[datetime, str]]:
    """The calendar's tasks and windows firing in [start, end), in time order."""
    windows = policy.maintenance.windows
    found = [(when, f"{name} (window, {windows[name].duration_minutes} min)" if name in windows else name)
             for name, expression in policy.schedules.items()
             for when in occurrences(expression, policy.timezone, start, end)]
    return sorted(found)
