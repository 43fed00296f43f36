"""The status page from incidents and windows: anti-flap both ways, public wording, the template."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from controlplane.clock import isoformat
from controlplane.maintenance import Window
from controlplane.policy import Policy
from status_page import compute_status, render_html

NOW = datetime(2026, 11, 26, 15, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def policy(config) -> Policy:
    return Policy(config.policy())  # appear after 5 min, calm for 30 min


def incident(opened_minutes_ago: float, *, severity: str = "P1", status: str = "OPEN",
             resolved_minutes_ago: float | None = None, component: str = "Web Application") -> dict[str, Any]:
    item = {"id": "INC-2026-001", "severity": severity, "status": status, "component": component,
            "impact": "Users intermittently cannot reach the application", "alarm_name": "internal-alarm-name",
            "opened_at": isoformat(NOW - timedelta(minutes=opened_minutes_ago)),
            "resolve_due_at": isoformat(NOW + timedelta(hours=2))}
    if resolved_minutes_ago is not None:
        item |= {"status": "RESOLVED", "resolved_at": isoformat(NOW - timedelta(minutes=resolved_minutes_ago))}
    return item


def component(status: dict[str, Any], name: str = "Web Application") -> str:
    return next(c["status"] for c in status["components"] if c["name"] == name)


def test_all_clear(policy) -> None:
    status = compute_status([], [], policy, NOW)
    assert status["status"] == "Operational" and status["incidents"] == [] and status["maintenance"] == []
    assert {c["status"] for c in status["components"]} == {"Operational"}


def test_a_new_p1_appears_only_after_it_has_lasted(policy) -> None:
    assert compute_status([incident(4)], [], policy, NOW)["status"] == "Operational"
    shown = compute_status([incident(5)], [], policy, NOW)
    assert shown["status"] == "Investigating" and component(shown) == "Investigating"
    [public] = shown["incidents"]
    assert public["estimated_resolution"] == "2026-11-26T17:00:00.000Z"
    assert "internal-alarm-name" not in str(shown) and "INC-2026-001" not in str(shown)


def test_a_blip_that_resolved_before_it_showed_never_shows(policy) -> None:
    assert compute_status([incident(10, resolved_minutes_ago=7)], [], policy, NOW)["status"] == "Operational"


def test_returning_to_operational_waits_for_the_calm_period(policy) -> None:
    assert compute_status([incident(40, resolved_minutes_ago=29)], [], policy, NOW)["status"] == "Monitoring"
    assert compute_status([incident(40, resolved_minutes_ago=30)], [], policy, NOW)["status"] == "Operational"


def test_a_flapping_alarm_keeps_the_component_down_between_incidents(policy) -> None:
    first = incident(40, resolved_minutes_ago=10)
    again = incident(2) | {"id": "INC-2026-002"}  # re-opened, not yet long enough to show itself
    assert component(compute_status([first, again], [], policy, NOW)) == "Monitoring"


def test_acknowledged_is_identified_and_the_worst_status_wins(policy) -> None:
    status = compute_status([incident(30, status="ACKNOWLEDGED"), incident(20, component="Data storage")], [],
                            policy, NOW)
    assert component(status) == "Identified" and component(status, "Data storage") == "Investigating"
    assert status["status"] == "Investigating"


def test_p2_and_p3_are_internal_only(policy) -> None:
    assert compute_status([incident(60, severity="P2"), incident(60, severity="P3")], [], policy, NOW)["status"] == \
        "Operational"


def test_other_stacks_components_show_under_one_public_name(policy) -> None:
    status = compute_status([incident(30, component="AWS/RDS")], [], policy, NOW)
    assert component(status, "Other services") == "Investigating" and "AWS/RDS" not in str(status)


def test_maintenance_shows_its_message_and_end(policy) -> None:
    window = Window(id="w", message="Emergency maintenance in progress", starts_at=isoformat(NOW - timedelta(minutes=5)),
                    ends_at=isoformat(NOW + timedelta(hours=1)), components=("Data storage",))
    status = compute_status([], [window], policy, NOW)
    assert status["status"] == "Maintenance" and component(status, "Data storage") == "Maintenance"
    assert component(status) == "Operational"
    assert status["maintenance"] == [{"message": "Emergency maintenance in progress", "until": "2026-11-26T16:00:00.000Z",
                                      "components": ["Data storage"]}]
    page = render_html(status)
    assert '<div class="status-update" data-status="Maintenance">' in page
    assert "<p><strong>Estimated Resolution:</strong> 2026-11-26 16:00 UTC</p>" in page


def test_html_escapes_what_it_shows(policy) -> None:
    window = Window(id="w", message="<script>alert(1)</script>", starts_at=isoformat(NOW),
                    ends_at=isoformat(NOW + timedelta(hours=1)))
    assert "<script>" not in render_html(compute_status([], [window], policy, NOW))
