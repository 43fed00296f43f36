"""Which function each delivery reaches: the same patterns the stacks deploy (controlplane.events)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from controlplane.events import (
    ALARM_STATE_CHANGE_PATTERN,
    INCIDENT_OPENED,
    INCIDENT_RESOLVED,
    incident_pattern,
    stack_status_pattern,
)


@dataclass(frozen=True)
class Route:
    function: str
    pattern: dict[str, Any]


def intake_routes(stack_name: str) -> tuple[Route, ...]:
    """Default-bus rules (events delivered by AWS services)."""
    return (Route("triage", ALARM_STATE_CHANGE_PATTERN), Route("waf_toggle", stack_status_pattern(stack_name)))


# The SNS intake topic's Lambda subscription.
SNS_INTAKE_FUNCTION = "triage"
# Ops-bus rules of the remediation capabilities.
OPS_BUS_ROUTES: tuple[Route, ...] = (
    Route("waf_toggle", incident_pattern((INCIDENT_OPENED, INCIDENT_RESOLVED), "waf-rate-limit")),
)
