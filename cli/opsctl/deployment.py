"""What a deployment of a config consists of, by name: the standing schedules, the rules and which
function each reaches, the dead-letter queues, the email subscriptions. `opsctl verify` checks a
real account (or the replay state) against it; the local world provisions it; the infra tests hold
the synthesized template to it, so the three cannot drift apart."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from controlplane.config import ControlPlaneConfig
from controlplane.events import (
    FOLLOW_UPS,
    NOTIFY,
    calendar_group,
    checks_group,
    dead_letter_queue_name,
    intake_bus_name,
    ops_bus_name,
    stack_name,
)
from controlplane.policy import Policy
from controlplane.registry import CALENDAR_GROUP, CHECKS_GROUP, DEFAULT_BUS, INTAKE_BUS, OPS_BUS, deployed, functions, routes


@dataclass(frozen=True)
class StandingSchedule:
    name: str
    group: str
    expression: str
    timezone: str | None  # None: UTC
    function: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class DeployedRule:
    bus: str  # DEFAULT_BUS, the ops bus's name or the intake bus's
    pattern: dict[str, Any]
    function: str


def standing_schedules(config: ControlPlaneConfig, policy: Policy) -> tuple[StandingSchedule, ...]:
    """Every capability's standing schedules (controlplane.registry), by the names they deploy with."""
    groups = {CALENDAR_GROUP: calendar_group(config.prefix), CHECKS_GROUP: checks_group(config.prefix)}
    return tuple(StandingSchedule(schedule.deployed_name(config.prefix), groups[schedule.group], schedule.expression,
                                  policy.timezone if schedule.local_time else None, capability.function, schedule.payload)
                 for capability in deployed(policy) for schedule in capability.schedules(policy))


def deployed_rules(config: ControlPlaneConfig, policy: Policy) -> tuple[DeployedRule, ...]:
    """Every rule of the registry, on the bus it deploys to (the default bus, this deployment's ops
    bus, or, with an organization, its intake bus)."""
    buses = {DEFAULT_BUS: DEFAULT_BUS, OPS_BUS: ops_bus_name(config.prefix), INTAKE_BUS: intake_bus_name(config.prefix)}
    return tuple(DeployedRule(name, pattern, function)
                 for bus, name in buses.items() for function, pattern in routes(bus, policy, stack_name(config.prefix)))


def dead_letter_queues(prefix: str, policy: Policy) -> tuple[str, ...]:
    """Each deployed function's own, the undeliverable notifications' and the follow-up schedules'."""
    return tuple(dead_letter_queue_name(prefix, owner) for owner in (*functions(policy), NOTIFY, FOLLOW_UPS))
