"""Maintenance windows: what they cover and whether one covers an alarm right now.

A window has a scope (components and/or alarm name patterns; both empty = everything) and an end.
Inside its scope, while it lasts: P1–P3 notifications of incidents it sees open are held back and
recorded, P0 always pages, and automated remediations are skipped by the guardrails. Windows
expire by their `ends_at` on every read, so a lost end-of-window schedule cannot leave one open.

Ledger items (controlplane.keys):
  keys.MAINTENANCE          one attribute `window:<id>` per open window (read in the same batch as
                            everything else triage and the guardrails read)
  keys.window(id)           the window's record: opened, extended, closed (listed in keys.WINDOWS)
  keys.suppressed(…)        a notification the window held back
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

from controlplane import keys
from controlplane.clock import isoformat

WINDOW_ATTRIBUTE = "window:"
PAGES_THROUGH = ("P0",)  # severities a window never holds back


@dataclass(frozen=True)
class Window:
    id: str
    message: str
    starts_at: str
    ends_at: str
    components: tuple[str, ...] = ()
    alarms: tuple[str, ...] = ()  # alarm names or fnmatch patterns ("*-storage")
    opened_by: str = "calendar"
    schedule: str | None = None  # the config schedule that opened it; None: opened ad hoc

    def is_active(self, now: datetime) -> bool:
        return self.starts_at <= isoformat(now) < self.ends_at

    def covers(self, alarm_name: str, component: str | None) -> bool:
        if not self.components and not self.alarms:
            return True
        return (component is not None and component in self.components) or any(
            fnmatchcase(alarm_name, pattern) for pattern in self.alarms)

    @property
    def scope_text(self) -> str:
        parts = [f"components: {', '.join(self.components)}"] if self.components else []
        parts += [f"alarms: {', '.join(self.alarms)}"] if self.alarms else []
        return "; ".join(parts) or "everything"

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["components"], values["alarms"] = list(self.components), list(self.alarms)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Window:
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        known["components"] = tuple(known.get("components") or ())
        known["alarms"] = tuple(known.get("alarms") or ())
        return cls(**known)


def windows_of(active_item: dict[str, Any] | None) -> list[Window]:
    """Every window recorded as open on the MAINTENANCE / ACTIVE item, expired or not."""
    return [Window.from_dict(value) for key, value in (active_item or {}).items() if key.startswith(WINDOW_ATTRIBUTE)]


def covering(windows: list[Window], alarm_name: str, component: str | None, now: datetime) -> Window | None:
    """The active window covering this alarm that lasts longest (its end is when the alarm is
    looked at again), or None."""
    matches = [w for w in windows if w.is_active(now) and w.covers(alarm_name, component)]
    return max(matches, key=lambda w: w.ends_at) if matches else None


def suppressed_item(window: Window, at: str, alarm: tuple[str, str, str | None], notification: dict[str, Any],
                    incident: str | None) -> dict[str, Any]:
    """`alarm` is (ARN, name, component): enough for the end-of-window re-check to find it again."""
    arn, name, component = alarm
    kind = notification["attributes"]["kind"]
    return keys.suppressed(window.id, at, name, kind).item({
        "window": window.id, "alarm": name, "alarm_arn": arn, "component": component, "incident": incident,
        "severity": notification["severity"], "subject": notification["subject"], "suppressed_at": at})
