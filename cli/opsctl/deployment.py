"""What a deployment of a config consists of, by name: the standing schedules, the rules and which
function each reaches, the dead-letter queues, the email subscriptions. `opsctl verify` checks a
real account (or the replay state) against it; the local world provisions it; the infra tests hold
the synthesized template to it, so the three cannot drift apart."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from controlplane.config import ControlPlaneConfig
from controlplane.events import calendar_group, checks_group, function_name, ops_bus_name, stack_name
from controlplane.policy import Policy
from controlplane.registry import DEFAULT_BUS, OPS_BUS, functions, routes

# AWS's scheduled time, substituted by EventBridge Scheduler at each firing.
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
# The WAF's traffic baseline is recomputed at five past every hour (UTC: it has no local meaning).
TRAFFIC_BASELINE_SCHEDULE = "cron(5 * * * ? *)"


@dataclass(frozen=True)
class StandingSchedule:
    name: str
    group: str
    expression: str
    function: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class DeployedRule:
    bus: str  # DEFAULT_BUS or the ops bus's name
    pattern: dict[str, Any]
    function: str


def standing_schedules(config: ControlPlaneConfig) -> tuple[StandingSchedule, ...]:
    prefix, calendar = config.prefix, calendar_group(config.prefix)
    schedules = [StandingSchedule(f"{prefix}-{name}"[:64], calendar, expression, "calendar",
                                  {"task": name, "at": SCHEDULED_TIME})
                 for name, expression in config.schedules.items()]
    schedules.append(StandingSchedule(f"{prefix}-status-page", calendar, config.status_page["refresh"], "reporting",
                                      {"task": "status-page"}))
    schedules += [StandingSchedule(f"{prefix}-{period}-report", calendar, config.reports[period], "reporting",
                                   {"task": "report", "period": period, "at": SCHEDULED_TIME})
                  for period in ("daily", "weekly", "monthly")]
    schedules += [
        StandingSchedule(f"{prefix}-backup-verify", calendar, config.backup["verify_schedule"], "backup_verify",
                         {"task": "verify", "at": SCHEDULED_TIME}),
        StandingSchedule(f"{prefix}-restore-tests", calendar, config.backup["restore_testing"]["critical_schedule"],
                         "backup_verify", {"task": "restore-tests", "at": SCHEDULED_TIME}),
        StandingSchedule(f"{prefix}-traffic-baseline", checks_group(prefix), TRAFFIC_BASELINE_SCHEDULE, "waf_toggle",
                         {"task": "compute-baseline"}),
        StandingSchedule(f"{prefix}-fire-drill", calendar, config.drill["schedule"], "drill",
                         {"task": "drill", "at": SCHEDULED_TIME}),
    ]
    return tuple(schedules)


def deployed_rules(config: ControlPlaneConfig, policy: Policy) -> tuple[DeployedRule, ...]:
    """Every rule of the registry, on the bus it deploys to (the default bus, or this deployment's ops bus)."""
    buses = {DEFAULT_BUS: DEFAULT_BUS, OPS_BUS: ops_bus_name(config.prefix)}
    return tuple(DeployedRule(buses[bus], pattern, function)
                 for bus in (DEFAULT_BUS, OPS_BUS) for function, pattern in routes(bus, policy, stack_name(config.prefix)))


def dead_letter_queues(prefix: str) -> tuple[str, ...]:
    """Each function's own, the undeliverable notifications' and the follow-up schedules'."""
    return (*(f"{function_name(prefix, function)}-dlq" for function in functions()),
            f"{prefix}-notify-dlq", f"{prefix}-follow-ups-dlq")
