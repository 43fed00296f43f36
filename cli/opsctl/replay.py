"""`opsctl replay`: deliver recorded AWS events to the real handlers against an embedded moto,
each at its own time, print a timeline and write the JSON report (its keys: README, `opsctl replay`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TextIO

from moto import mock_aws
from moto.events.models import EventPattern

from controlplane import registry
from controlplane.clock import FixedClock, parse_timestamp
from controlplane.config import ControlPlaneConfig
from controlplane.events import DEPLOY_SOURCE, stack_name
from controlplane.ledger import IncidentLedger
from controlplane.policy import Policy
from opsctl import lambda_host
from opsctl.context import write_state
from opsctl.world import (
    LocalWorld,
    alarm_state_change_event,
    drain,
    provision,
    seed_traffic_history,
    use_fake_credentials,
)

WEBHOOK_FUNCTION = "pagerduty_webhook"


@dataclass
class ReplayReport:
    received: int = 0
    processed: int = 0
    duplicates: int = 0
    rejected: int = 0
    incidents: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    suppressed: list[dict[str, Any]] = field(default_factory=list)  # pages held back (windows, CloudWatch)
    rejections: list[dict[str, Any]] = field(default_factory=list)  # {"line", "reason"}: counted in `rejected`
    ignored: list[dict[str, Any]] = field(default_factory=list)  # {"line", "reason"}: a function ignored it

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": {"received": self.received, "processed": self.processed,
                       "duplicates": self.duplicates, "rejected": self.rejected},
            "incidents": self.incidents,
            "actions": self.actions,
            "notifications": self.notifications,
            "suppressed_notifications": self.suppressed,
            "rejections": self.rejections,
            "ignored": self.ignored,
        }


def _per_array_object(event: dict[str, Any]) -> list[dict[str, Any]]:
    """EventBridge matches a pattern's fields against each object of an array in the event (Security
    Hub's `detail.findings`); moto's matcher does not, so the event is tried once per such object."""
    detail = event.get("detail")
    if not isinstance(detail, dict):
        return [event]
    variants = [event]
    for key, value in detail.items():
        if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            variants = [variant | {"detail": variant["detail"] | {key: item}} for variant in variants for item in value]
    return variants


class Replay:
    def __init__(self, config: ControlPlaneConfig, *, dry_run: bool = False, traffic_history: bool = True,
                 out: TextIO | None = None, state: Path | None = None) -> None:
        self.config = config
        self.policy = config.policy()
        if dry_run:
            # Every capability decides and records, none writes: "what would it have done?"
            for capability in self.policy["capabilities"].values():
                capability["mode"] = "dry-run"
        self.compiled = Policy(self.policy)  # the typed view of what the replay's functions read
        self.traffic_history = traffic_history
        self.out = out or sys.stdout
        self.report = ReplayReport()
        self.clock = FixedClock(datetime(1970, 1, 1, tzinfo=timezone.utc))
        self.world: LocalWorld | None = None
        self.intake_patterns, self.member_patterns = (
            [(function, EventPattern.load(json.dumps(pattern)))
             for function, pattern in registry.routes(bus, self.compiled, stack_name(config.prefix))]
            for bus in (registry.DEFAULT_BUS, registry.INTAKE_BUS))
        self.state = state  # where to leave the ledger and WebACL for `opsctl` afterwards

    def run(self, lines: Iterator[str]) -> ReplayReport:
        use_fake_credentials()
        lambda_host.quiet_powertools()
        with mock_aws():
            self.world = self.provision()
            self.world.advance = self.advance
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    self.deliver_line(number, line)
            self.fire_schedules(until=None)  # what is still scheduled runs at its own time
            self.finish()
        return self.report

    def provision(self) -> LocalWorld:
        return provision(self.config, self.policy)

    def finish(self) -> None:
        """The day is over (still inside the emulator): the report's incidents, the state for opsctl."""
        assert self.world is not None
        self.collect_incidents()
        if self.state is not None:
            write_state(self.state, self.world)

    def invoke(self, function: str, event: Any) -> Any:
        assert self.world is not None
        return lambda_host.invoke(function, event, self.world.dependencies(function, self.clock))

    def fire_schedules(self, until: datetime | None) -> None:
        """EventBridge Scheduler's one-time schedules whose time has come (all of them, in time order,
        when `until` is None): run their target with their input at their time, then delete them."""
        assert self.world is not None
        scheduler = self.world.client("scheduler")
        group = self.world.settings.schedule_group
        while True:
            due = []
            for summary in scheduler.list_schedules(GroupName=group)["Schedules"]:
                schedule = scheduler.get_schedule(Name=summary["Name"], GroupName=group)
                if not schedule["ScheduleExpression"].startswith("at("):
                    continue  # a standing schedule (the WAF's baseline): the replay runs it when a line says so
                at = parse_timestamp(schedule["ScheduleExpression"][3:-1] + "Z")
                if until is None or at <= until:
                    due.append((at, schedule))
            if not due:
                return
            at, schedule = min(due, key=lambda pair: pair[0])
            scheduler.delete_schedule(Name=schedule["Name"], GroupName=group)
            self.clock.set(max(at, self.clock.now()))
            payload = json.loads(schedule["Target"]["Input"])
            self.say(self.clock.now(), f"scheduler  {schedule['Name']} → {payload.get('task')}")
            self.run_function(self.world.function_of(schedule["Target"]["Arn"]), payload)
            self.collect_side_effects()

    def run_function(self, function: str, event: Any) -> list[dict[str, Any]]:
        """Run one handler and record the actions it reports (what it sent on is collected after).
        A handler that raises is one failed delivery (in AWS: retried, then dead-lettered), shown as a
        rejected outcome with the exception's reason; the replay goes on."""
        try:
            result = self.invoke(function, event)
        except Exception as error:  # noqa: BLE001 - any handler failure is reported, never fatal to the replay
            reason = f"{function} raised {type(error).__name__}: {error}"[:500]
            print(json.dumps({"level": "ERROR", "message": "handler failed", "function": function, "reason": reason}),
                  file=sys.stderr)
            return [{"result": "rejected", "reason": reason}]
        if "statusCode" in result:  # a function URL's answer (PagerDuty's webhook): its status says
            answer = json.loads(result.get("body") or "{}")
            return [{"result": "rejected" if result["statusCode"] >= 400 else answer.get("result", "executed"),
                     "reason": f"{result['statusCode']}: {answer.get('reason', '')}"}]
        for action in result.get("actions", []):
            self.report.actions.append({k: action.get(k) for k in ("type", "target", "result", "reason", "incident")})
            self.say(self.clock.now(), f"action     {action['type']} {action['result']}: {action['reason']}")
        outcomes = list(result.get("outcomes", []))
        for check in result.get("checks", []):
            if check["result"] == "executed":
                self.say(self.clock.now(), f"{check['type']:<10} {check['reason']}")
            elif check["result"] == "ignored":
                outcomes.append({"result": "ignored", "reason": check["reason"]})
        for outcome in outcomes:
            if outcome.get("held_back_by"):
                self.report.suppressed.append({"incident": outcome.get("incident"), "severity": outcome.get("severity"),
                                               "alarm": outcome.get("alarm"), "window": outcome.get("suppressed_by"),
                                               "suppressed_by": outcome["held_back_by"]})
        return outcomes

    def attach(self, world: LocalWorld, at: datetime) -> None:
        """Run on a world already provisioned (the replay state `opsctl` loaded), from `at` on."""
        lambda_host.quiet_powertools()
        self.world = world
        self.clock.set(at)
        world.advance = self.advance

    def advance(self, seconds: float) -> None:
        """Time moves on by `seconds` (the fire drill waiting): the state changes CloudWatch emitted
        meanwhile are delivered, and what is scheduled by then runs."""
        assert self.world is not None
        with lambda_host.outside_functions():  # the world's own calls, not the waiting function's
            until = self.clock.now() + timedelta(seconds=seconds)
            while self.world.alarm_changes:
                change = self.world.alarm_changes.pop(0)
                # EventBridge times are whole seconds; CloudWatch emits just after the change.
                emitted = (self.clock.now() + timedelta(seconds=1)).replace(microsecond=0)
                self.report.received += 1
                self.deliver(self.report.received, alarm_state_change_event(self.config, change, emitted))
            self.fire_schedules(until)
            self.clock.set(max(until, self.clock.now()))

    def deliver_line(self, number: int, line: str) -> None:
        self.report.received += 1
        try:
            event = json.loads(line.strip())
        except json.JSONDecodeError as error:
            self.reject(number, f"line is not JSON: {error.msg} at column {error.colno}")
            return
        self.deliver(number, event)

    def deliver(self, number: int, event: Any) -> None:
        if isinstance(event, dict) and event.get("source") == DEPLOY_SOURCE:
            self.publish_to_ops_bus(event)
            return
        functions = self.route(event)
        if not functions and is_aws_service_event(event):
            self.reject(number, f"{event['source']} {event['detail-type']!r}: no deployed rule routes it to a "
                                "function (AWS would not deliver it to us)")
            return
        if not functions:
            self.reject(number, "no intake rule or scheduled task matches this event")
            return
        delivered_at = delivery_time(event)
        if delivered_at is not None:
            if self.traffic_history and self.world is not None and not self.world.traffic_seeded:
                self.seed_history(delivered_at)
            self.fire_schedules(until=delivered_at)
            self.clock.set(delivered_at)
        if self.world is not None:
            self.world.mirror(event)
        outcomes: list[dict[str, Any]] = []
        for function in functions:
            outcomes += self.run_function(function, event)
        results = {outcome["result"] for outcome in outcomes}
        if not outcomes:
            self.report.processed += 1
        elif results == {"rejected"}:
            self.report.rejected += 1
            self.report.rejections.append({"line": number, "reason": "; ".join(o["reason"] for o in outcomes)})
        elif results == {"ignored"}:
            self.report.processed += 1
            self.report.ignored.append({"line": number, "reason": "; ".join(o["reason"] for o in outcomes)})
        elif results == {"duplicate"}:
            self.report.duplicates += 1
        else:
            self.report.processed += 1
        self.say_outcomes(outcomes)
        self.collect_side_effects()

    def say_outcomes(self, outcomes: list[dict[str, Any]]) -> None:
        for outcome in outcomes:
            self.say(self.clock.now(), f"{outcome['result']:<10} {outcome.get('alarm') or '-'}"
                     + (f"  {outcome['incident']} ({outcome['severity']})" if outcome.get("incident") else "")
                     + (f"  [{outcome['reason']}]" if outcome["result"] in ("rejected", "ignored", "superseded", "paged")
                        else "")
                     + (f"  (page held back: {outcome['held_back_by']})" if outcome.get("held_back_by") else "")
                     + (f"  (clock skew: reported {outcome['clock_skew_seconds']} s after its delivery)"
                        if outcome.get("clock_skew_seconds") else "")
                     + ("  (late delivery: no remediation)" if outcome.get("stale") else ""))

    def publish_to_ops_bus(self, event: dict[str, Any]) -> None:
        """A pipeline's "Deployment Completed" goes to the ops bus, whose rules deliver it."""
        assert self.world is not None
        delivered_at = delivery_time(event)
        if delivered_at is not None:
            self.fire_schedules(until=delivered_at)
            self.clock.set(delivered_at)
        self.world.client("events").put_events(Entries=[{
            "Source": event["source"], "DetailType": event["detail-type"], "Detail": json.dumps(event["detail"]),
            "EventBusName": self.world.settings.ops_bus_name, "Time": event["time"]}])
        self.report.processed += 1
        self.say(self.clock.now(), f"deploy     {event['detail'].get('target')} {event['detail'].get('version')}")
        self.collect_side_effects()

    def route(self, event: Any) -> list[str]:
        if not isinstance(event, dict):
            return []
        if isinstance(event.get("Records"), list):
            return [registry.SNS_INTAKE_FUNCTION]
        if event.get("source") == "aws.cloudwatch" and "alarmData" in event:
            return [registry.ALARM_ACTION_FUNCTION]
        if "task" in event:
            function = registry.task_function(str(event["task"]), self.compiled)
            return [function] if function else []
        if isinstance(event.get("requestContext"), dict) and "rawPath" in event:
            # A request to a function URL: PagerDuty's webhook is the only one there is.
            return [WEBHOOK_FUNCTION] if WEBHOOK_FUNCTION in registry.functions(self.compiled) else []
        # Another account's events reach the hub through its spoke, to the intake bus's rules (with an
        # organization); this account's through its default bus.
        member = self.compiled.organization.enabled and event.get("account") not in (None, self.config.account)
        return [function for function, pattern in (self.member_patterns if member else self.intake_patterns)
                if any(pattern.matches_event(each) for each in _per_array_object(event))]  # type: ignore[arg-type]

    def seed_history(self, first_event: datetime) -> None:
        """The demo application's normal traffic before the replay starts (see README), for the hub's
        traffic-spike alarm when it follows a baseline (a config whose WAF is a member account's may
        have no such alarm)."""
        assert self.world is not None
        spec = next((spec for spec in self.config.alarms if spec.key == "traffic-spike" and spec.multiplier), None)
        if spec is not None:
            assert spec.multiplier is not None and spec.baseline_weeks is not None  # (config validation)
            seed_traffic_history(self.world.session, self.config, first_event, spec.baseline_weeks,
                                 spec.threshold / spec.multiplier)
        self.world.traffic_seeded = True

    def reject(self, number: int, reason: str) -> None:
        self.report.rejected += 1
        self.report.rejections.append({"line": number, "reason": reason})
        # A structured log line per rejection, and the replay goes on.
        print(json.dumps({"level": "ERROR", "message": "rejected replay line", "line": number, "reason": reason}),
              file=sys.stderr)
        self.say(self.clock.now(), f"rejected   line {number}: {reason}")

    def collect_side_effects(self) -> None:
        assert self.world is not None
        self.world.pump_outbox(self.invoke)
        sqs = self.world.client("sqs")
        for severity, queue_url in self.world.notification_queues.items():
            for envelope in drain(sqs, queue_url):
                attributes = envelope.get("MessageAttributes", {})
                incident = attributes.get("incident", {}).get("Value")
                self.report.notifications.append({"topic": envelope["TopicArn"], "severity": severity,
                                                  "subject": envelope.get("Subject"), "incident": incident})
                self.say(self.clock.now(), f"notify {severity}  {envelope.get('Subject')}")
        for event in drain(sqs, self.world.ops_event_queue):
            detail = event["detail"]
            if "window" in detail:
                self.say(self.clock.now(), f"ops-bus    {event['detail-type']}: {detail['window']['id']}")
            elif "incident_id" in detail:
                self.say(self.clock.now(), f"ops-bus    {event['detail-type']}: {detail['incident_id']} "
                                           f"(remediation={detail.get('remediation')}, actionable={detail.get('actionable')})")
            else:
                self.say(self.clock.now(), f"ops-bus    {event['detail-type']}: {json.dumps(detail)[:100]}")
        for function, queue_url in self.world.route_queues:
            for event in drain(sqs, queue_url):
                self.say_outcomes(self.run_function(function, event))
                self.collect_side_effects()

    def collect_incidents(self) -> None:
        assert self.world is not None
        ledger = IncidentLedger(self.world.client("dynamodb"), self.world.settings.ledger_table)
        for incident in ledger.iter_incidents(newest_first=False):
            self.report.incidents.append({
                "id": incident["id"], "severity": incident["severity"], "status": incident["status"],
                "alarm": incident["alarm_name"], "account": incident.get("account"), "region": incident.get("region"),
                "opened_at": incident["opened_at"], "resolved_at": incident.get("resolved_at"),
            })

    def say(self, at: datetime, text: str) -> None:
        print(f"{at.strftime('%Y-%m-%d %H:%M:%S')}Z  {text}", file=self.out)


def is_aws_service_event(event: Any) -> bool:
    """An EventBridge event only AWS can put on the default bus (`aws.*` source)."""
    return (isinstance(event, dict) and isinstance(event.get("source"), str) and event["source"].startswith("aws.")
            and isinstance(event.get("detail-type"), str))


def delivery_time(event: Any) -> datetime | None:
    """When AWS delivered the event: EventBridge's `time`, the SNS message's `Timestamp`, or a
    scheduled payload's `at`."""
    try:
        if "task" in event:
            return parse_timestamp(event["at"])
        if "Records" in event:
            return parse_timestamp(event["Records"][0]["Sns"]["Timestamp"])
        return parse_timestamp(event["time"])
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return None


def write_report(report: ReplayReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")
