"""Which function each delivery reaches: the same patterns the stacks deploy (controlplane.events)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from controlplane.events import ALARM_STATE_CHANGE_PATTERN


@dataclass(frozen=True)
class Route:
    function: str
    pattern: dict[str, Any]


# Default-bus rules (events delivered from AWS services).
INTAKE_ROUTES: tuple[Route, ...] = (Route("triage", ALARM_STATE_CHANGE_PATTERN),)
# The SNS intake topic's Lambda subscription.
SNS_INTAKE_FUNCTION = "triage"
# Ops-bus rules of the remediation capabilities (each is a Route on an incident pattern).
OPS_BUS_ROUTES: tuple[Route, ...] = ()
