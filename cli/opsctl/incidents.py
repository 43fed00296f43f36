"""`opsctl incident list|show|ack`, on a real account or on the state a replay left behind."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import boto3
from moto import mock_aws

from controlplane.ledger import IncidentLedger
from opsctl.world import create_ledger_table, use_fake_credentials

T = TypeVar("T")
LOCAL_TABLE = "replay-ledger"


def uses_real_account(profile: str | None, region: str | None) -> bool:
    return bool(profile or region or os.environ.get("AWS_ENDPOINT_URL"))


@contextmanager
def real_ledger(table: str, profile: str | None, region: str | None) -> Iterator[IncidentLedger]:
    # boto3 honours AWS_ENDPOINT_URL itself (LocalStack, a moto server, a VPC endpoint).
    session = boto3.session.Session(profile_name=profile, region_name=region)
    yield IncidentLedger(table, session.client("dynamodb"))


@contextmanager
def local_ledger(state: Path, *, save: bool) -> Iterator[IncidentLedger]:
    """The replay's ledger, loaded into a fresh embedded moto (and saved back after a change)."""
    if not state.exists():
        raise FileNotFoundError(f"{state}: no replay state yet; run `opsctl replay` (or `make demo`) first")
    items = json.loads(state.read_text(encoding="utf-8"))
    use_fake_credentials()
    with mock_aws():
        client = boto3.session.Session(region_name="us-east-1").client("dynamodb")
        create_ledger_table(client, LOCAL_TABLE)
        for item in items:
            client.put_item(TableName=LOCAL_TABLE, Item=item)
        yield IncidentLedger(LOCAL_TABLE, client)
        if save:
            pages = client.get_paginator("scan").paginate(TableName=LOCAL_TABLE)
            state.write_text(json.dumps([i for page in pages for i in page["Items"]]), encoding="utf-8")


def with_ledger(args: Any, operation: Callable[[IncidentLedger], T], *, save: bool = False) -> T:
    if uses_real_account(args.profile, args.region):
        with real_ledger(args.table, args.profile, args.region) as ledger:
            return operation(ledger)
    with local_ledger(Path(args.state), save=save) as ledger:
        return operation(ledger)


def format_table(incidents: list[dict[str, Any]]) -> str:
    header = f"{'ID':<14} {'SEV':<4} {'STATUS':<13} {'OPENED (UTC)':<20} {'RESOLVED (UTC)':<20} ALARM"
    rows = [
        f"{i['id']:<14} {i['severity']:<4} {i['status']:<13} {i['opened_at'][:19]:<20} "
        f"{(i.get('resolved_at') or '-')[:19]:<20} {i['alarm_name']}"
        for i in incidents
    ]
    return "\n".join([header, *rows]) if rows else "no incidents"


def format_incident(incident: dict[str, Any]) -> str:
    fields = ["id", "severity", "status", "alarm_name", "component", "impact", "classified_by", "remediation",
              "opened_at", "last_seen_at", "occurrences", "acknowledged_by", "acknowledged_at", "resolved_at",
              "time_to_resolve_seconds", "previous_incident", "config_version"]
    lines = [f"{name:>24}: {incident[name]}" for name in fields if incident.get(name) is not None]
    lines.append("                timeline:")
    lines += [f"  {entry['at']}  {entry['event']:<13} {entry.get('via') or entry.get('by') or ''}  "
              f"{entry.get('reason', '')}".rstrip() for entry in incident.get("timeline", [])]
    return "\n".join(lines)
