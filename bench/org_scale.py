"""The organization at scale, modelled from measured call counts: 500 member accounts × 3 Regions ×
20 alarms watched by one hub. What the hub must carry (events per second, ledger capacity, Lambda
concurrency) against its default quotas, and what the hub and one spoke cost a month at the prices
of bench/prices.json (dated).

Measured (the organization example's config in the local world, every function as deployed): the
functions' invocations and AWS calls for one alarm's day (ALARM, OK, and the follow-ups they arm),
for one heartbeat, for one account × Region of a coverage check, and for one member account's hourly
backup verification (its every Region; the world's members protect one table each). The rest is
arithmetic on the assumptions below, each named where it is used."""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from botocore.client import BaseClient

ROOT = Path(__file__).resolve().parents[1]
PRICES = json.loads((ROOT / "bench" / "prices.json").read_text(encoding="utf-8"))
ACCOUNTS, REGIONS, ALARMS_PER_PAIR = 500, 3, 20
# Assumptions: each alarm goes to ALARM and back once a day on average (most stay OK for weeks; a
# noisy few flap); a Region-wide outage sets off every alarm of one Region of every account within a
# minute; an invocation lasts 20 ms plus 15 ms per AWS call it makes, at 512 MB; an incident's items
# (incident, timeline, outbox, follow-ups) take 4 KB and are kept a year.
CYCLES_PER_ALARM_PER_DAY = 1
OUTAGE_SECONDS = 60
INVOCATION_MS, PER_CALL_MS, MEMORY_GB = 20, 15, 0.5
INCIDENT_KB, KEPT_MONTHS = 4, 12
# A member account's protected resources per Region (tagged with a backup class): each one more
# ListRecoveryPointsByResource in its hourly verification.
PROTECTED_PER_PAIR = 10
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
SECONDS_PER_MONTH = 30 * 86400


@contextmanager
def observing_calls(observe: Callable[[BaseClient, str, dict[str, Any]], None]) -> Iterator[None]:
    """`observe(client, operation, params)` before every AWS API call made inside the block,
    whoever's client makes it (bench/run.py's call lists and the Meter below)."""
    original = BaseClient._make_api_call

    def call(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        observe(client, operation, params)
        return original(client, operation, params)

    BaseClient._make_api_call = call  # type: ignore[method-assign]
    try:
        yield
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]


class Meter:
    """The functions' invocations and AWS calls (not the local world's own), in request units."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._stack = ExitStack()

    def __enter__(self) -> Meter:
        from opsctl import lambda_host

        def call(client: BaseClient, operation: str, params: dict[str, Any]) -> None:
            if lambda_host.running_function() is not None:
                self.count(client.meta.service_model.service_name, operation, params)

        original_invoke = lambda_host.invoke

        def invoke(function: str, event: Any, dependencies: Any) -> Any:
            self.counts["invocations"] += 1
            return original_invoke(function, event, dependencies)

        self._stack.enter_context(observing_calls(call))
        lambda_host.invoke = invoke  # type: ignore[assignment]
        self._stack.callback(setattr, lambda_host, "invoke", original_invoke)
        return self

    def __exit__(self, *_: object) -> None:
        self._stack.close()

    def count(self, service: str, operation: str, params: dict[str, Any]) -> None:
        self.counts["calls"] += 1
        if service == "dynamodb":
            if operation == "TransactWriteItems":  # a transaction costs each item twice
                self.counts["write_units"] += 2 * len(params["TransactItems"])
            elif operation in ("PutItem", "UpdateItem", "DeleteItem"):
                self.counts["write_units"] += 1
            elif operation == "BatchGetItem":
                self.counts["read_units"] += sum(len(t["Keys"]) for t in params["RequestItems"].values())
            elif operation in ("GetItem", "Query"):
                self.counts["read_units"] += 1  # consistent, ≤ 4 KB: one unit (a query's floor)
        elif service == "events" and operation == "PutEvents":
            self.counts["ops_bus_events"] += len(params["Entries"])
        elif service == "sns" and operation == "Publish":
            self.counts["publishes"] += 1
        elif service == "scheduler" and operation == "CreateSchedule":
            self.counts["schedules"] += 1

    def per(self, units: int) -> dict[str, float]:
        return {key: value / units for key, value in self.counts.items()}


def measure() -> dict[str, dict[str, float]]:
    """Per alarm day, per heartbeat, per account × Region checked: in the organization's world."""
    from moto import mock_aws

    from controlplane.config import load_config
    from opsctl import lambda_host
    from opsctl.replay import Replay
    from opsctl.world import provision, use_fake_credentials

    config = load_config(ROOT / "config" / "production-api.example.yaml")
    pairs = [(account, region) for account in config.organization["accounts"] for region in config.organization["regions"]]
    use_fake_credentials()
    lambda_host.quiet_powertools()
    with mock_aws():
        world = provision(config, config.policy())
        replay = Replay(config, out=io.StringIO())
        replay.attach(world, T0)

        def deliver(*events: dict[str, Any]) -> None:
            for event in events:
                replay.deliver(0, event)

        heartbeats = [heartbeat(account, region, T0) for account, region in pairs]
        with Meter() as beats:
            deliver(*heartbeats)
        with Meter() as check:
            deliver({"task": "coverage-check", "at": _at(T0 + timedelta(minutes=1))})
        cycles = 10
        with Meter() as alarms:
            for index in range(cycles):  # apart by more than the storm window: each its own incident
                fired = T0 + timedelta(minutes=5 + 3 * index)
                account, region = pairs[index % len(pairs)]
                deliver(member_alarm(account, region, f"service-{index}-errors", "ALARM", fired),
                        member_alarm(account, region, f"service-{index}-errors", "OK", fired + timedelta(minutes=1)))
            replay.fire_schedules(until=T0 + timedelta(days=2))  # the follow-ups they armed
        # The steady hour: every member's table backed up in time, so the verification finds it fresh.
        members = list(config.organization["accounts"])
        verified_at = T0 + timedelta(days=2, hours=1)
        deliver(*(member_backup_completed(account, name, config.organization["regions"][0], verified_at)
                  for account, name in config.organization["accounts"].items()))
        with Meter() as verification:
            for account in members:
                replay.run_function("backup_verify", member_backups_due(account, verified_at))
            replay.collect_side_effects()
    return {"alarm_day": alarms.per(cycles), "heartbeat": beats.per(len(heartbeats)), "pair_checked": check.per(len(pairs)),
            "member_verified": verification.per(len(members)),
            "measured": {"regions": len(config.organization["regions"]),
                         "protected_per_account": 1}}  # one table each (opsctl.world.MEMBER_PROTECTED)


def model(measured: dict[str, dict[str, float]], heartbeat_minutes: int = 5) -> dict[str, float]:
    prices, quotas = PRICES["prices"], PRICES["quotas"]
    pairs = ACCOUNTS * REGIONS
    alarms = pairs * ALARMS_PER_PAIR
    per_alarm_day, per_beat, per_pair = measured["alarm_day"], measured["heartbeat"], measured["pair_checked"]
    # One member account's hourly backup verification at this scale: as measured, with its Regions'
    # fixed calls (the tagged resources, the plan's rules) for REGIONS Regions, and one listing per
    # protected resource (the world's members protect one table each, in one of their Regions).
    measured_regions, measured_protected = measured["measured"]["regions"], measured["measured"]["protected_per_account"]
    member = dict(measured["member_verified"])
    fixed = (member["calls"] - measured_protected) / measured_regions
    member["calls"] = fixed * REGIONS + PROTECTED_PER_PAIR * REGIONS
    # Steady: alarm days, heartbeats, a coverage check of every pair each heartbeat interval, and
    # every member account's backups each hour.
    rate = {"alarm_days": alarms * CYCLES_PER_ALARM_PER_DAY / 86400, "beats": pairs / (heartbeat_minutes * 60),
            "pairs_checked": pairs / (heartbeat_minutes * 60), "members_verified": ACCOUNTS / 3600}
    units = [(per_alarm_day, rate["alarm_days"]), (per_beat, rate["beats"]), (per_pair, rate["pairs_checked"]),
             (member, rate["members_verified"])]

    def steady(key: str) -> float:
        return sum(measured_unit.get(key, 0.0) * per_second for measured_unit, per_second in units)

    # The outage: every alarm of one Region of every account opens within a minute (half a day's
    # work each: the ALARM side), on top of the steady load.
    outage = ACCOUNTS * ALARMS_PER_PAIR / OUTAGE_SECONDS

    def peak(key: str) -> float:
        return steady(key) + outage * per_alarm_day.get(key, 0.0) / 2

    forwarded = 2 * rate["alarm_days"] + rate["beats"]  # what the spokes put on the intake bus
    seconds_per_invocation = {
        name: (INVOCATION_MS + PER_CALL_MS * unit.get("calls", 0.0) / max(unit.get("invocations", 1.0), 1.0)) / 1000
        for name, unit in (("alarm_day", per_alarm_day), ("heartbeat", per_beat), ("pair_checked", per_pair),
                           ("member_verified", member))}
    concurrency_peak = peak("invocations") * seconds_per_invocation["alarm_day"]
    monthly = {key: steady(key) * SECONDS_PER_MONTH for key in
               ("invocations", "write_units", "read_units", "ops_bus_events", "publishes", "schedules")}
    gb_seconds = sum(unit.get("invocations", 0.0) * per_second * SECONDS_PER_MONTH * seconds_per_invocation[name]
                     for (unit, per_second), name in zip(units, seconds_per_invocation, strict=True)) * MEMORY_GB
    incidents_kept_gb = alarms * CYCLES_PER_ALARM_PER_DAY * 30 * KEPT_MONTHS * INCIDENT_KB / 1024 ** 2
    hub_cost = (monthly["invocations"] / 1e6 * prices["lambda_request_per_million"]
                + gb_seconds * prices["lambda_arm_gb_second"]
                + monthly["write_units"] / 1e6 * prices["dynamodb_write_request_unit_per_million"]
                + monthly["read_units"] / 1e6 * prices["dynamodb_read_request_unit_per_million"]
                + incidents_kept_gb * prices["dynamodb_storage_gb_month"]
                + monthly["ops_bus_events"] / 1e6 * prices["eventbridge_custom_event_per_million"]
                + monthly["publishes"] / 1e6 * prices["sns_publish_per_million"]
                + max(monthly["schedules"] - prices["scheduler_free_invocations_per_month"], 0) / 1e6
                * prices["scheduler_invocation_per_million"])
    # One spoke (an account × Region): its forwarded events (cross-account, charged to the sender),
    # its heartbeats' schedule (inside Scheduler's free tier), its dead-letter queue's alarm.
    spoke_events = (2 * ALARMS_PER_PAIR * CYCLES_PER_ALARM_PER_DAY * 30 + SECONDS_PER_MONTH / (heartbeat_minutes * 60))
    spoke_cost = (spoke_events / 1e6 * prices["eventbridge_cross_account_event_per_million"]
                  + prices["cloudwatch_standard_alarm_month"])
    # One coverage check of every pair, in one invocation: the roles it assumes, its batched verdicts,
    # the recorded states it reads (100 keys a call), the partition it queries (1 MB pages, 300 bytes
    # a pair), the changes it sends (10 a call; assume 1 % of pairs changed).
    from controlplane.registry import BACKUP_VERIFY_CONCURRENCY
    from coverage_service import ROLE_CHECKS_PER_RUN

    check_calls = (min(ACCOUNTS, ROLE_CHECKS_PER_RUN) + -(-pairs // 25) + -(-pairs // 100)
                   + -(-2 * pairs * 300 // 1024 ** 2) + -(-pairs // 100 // 10))
    return {
        "org_pairs": pairs, "org_alarms": alarms,
        "org_coverage_check_seconds": (INVOCATION_MS + PER_CALL_MS * check_calls) / 1000,
        "org_member_backup_verification_calls": member["calls"],
        "org_member_backup_verification_seconds": seconds_per_invocation["member_verified"],
        # The hourly fan-out drained through the verifier's reserved concurrency.
        "org_member_backups_fanout_seconds":
            ACCOUNTS * seconds_per_invocation["member_verified"] / BACKUP_VERIFY_CONCURRENCY,
        "org_steady_events_per_second": forwarded,
        "org_peak_events_per_second": forwarded + outage,
        "org_peak_write_units_per_second": peak("write_units"),
        "org_peak_read_units_per_second": peak("read_units"),
        "org_peak_lambda_concurrency": concurrency_peak,
        "org_peak_use_of_put_events_quota":
            (peak("ops_bus_events") + forwarded + outage) / quotas["eventbridge_put_events_per_second"],
        "org_peak_use_of_invocations_quota": peak("invocations") / quotas["eventbridge_invocations_per_second"],
        "org_peak_use_of_lambda_concurrency": concurrency_peak / quotas["lambda_concurrent_executions"],
        "org_peak_use_of_table_write_units": peak("write_units") / quotas["dynamodb_on_demand_table_write_units_per_second"],
        "org_hub_usd_per_month": hub_cost,
        "org_spoke_usd_per_month": spoke_cost,
        "org_ledger_gb_after_a_year": incidents_kept_gb,
    }


def heartbeat(account: str, region: str, at: datetime) -> dict[str, Any]:
    return {"version": "0", "id": f"hb-{account}-{region}-{at:%H%M}", "detail-type": "Spoke Heartbeat",
            "source": "ops.spoke", "account": account, "region": region, "time": _at(at), "resources": [],
            "detail": {"spoke_version": "bench"}}


def member_backups_due(account: str, at: datetime) -> dict[str, Any]:
    """The hourly verification's request for one member account's backups, as it puts it on the ops bus."""
    return {"version": "0", "id": f"due-{account}-{at:%H%M}", "detail-type": "Member Backups Due",
            "source": "ops.control-plane", "account": "111122223333", "region": "eu-west-1", "time": _at(at),
            "resources": [], "detail": {"account": account, "scheduled_at": _at(at)}}


def member_backup_completed(account: str, name: str, region: str, at: datetime) -> dict[str, Any]:
    """AWS Backup's "Backup Job State Change" (COMPLETED) of a member's protected table, as its spoke
    forwards it (the world's members each protect `<name>-orders`: opsctl.world.MEMBER_PROTECTED)."""
    table = f"arn:aws:dynamodb:{region}:{account}:table/{name}-orders"
    return {"version": "0", "id": f"job-{account}-{at:%H%M}", "detail-type": "Backup Job State Change",
            "source": "aws.backup", "account": account, "region": region, "time": _at(at), "resources": [table],
            "detail": {"backupJobId": f"bench-{account}", "state": "COMPLETED", "resourceArn": table,
                       "resourceType": "DynamoDB", "backupVaultName": "bench", "creationDate": _at(at - timedelta(minutes=10)),
                       "completionDate": _at(at), "recoveryPointArn": f"arn:aws:backup:{region}:{account}:recovery-point:bench"}}


def member_alarm(account: str, region: str, name: str, state: str, at: datetime) -> dict[str, Any]:
    """A member account's alarm (tagged P2: no remediation), as its spoke forwards it."""
    return {"version": "0", "id": f"{name}-{state}-{at:%H%M}", "detail-type": "CloudWatch Alarm State Change",
            "source": "aws.cloudwatch", "account": account, "region": region, "time": _at(at),
            "resources": [f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"],
            "detail": {"alarmName": name, "state": {"value": state, "reason": "bench", "timestamp": _at(at)},
                       "previousState": {"value": "OK" if state == "ALARM" else "ALARM", "reason": "bench",
                                         "timestamp": _at(at - timedelta(minutes=1))},
                       "configuration": {"description": "A service's errors. [ops: severity=P2]", "metrics": []}}}


def _at(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")
