"""Where an `opsctl` command acts: a real account (`--profile`, `--region` or `AWS_ENDPOINT_URL`),
or the state the last `opsctl replay` left behind, loaded into a fresh embedded moto.

Either way the command gets the same objects the Lambdas use (ledger, Dependencies with the
compiled policy), so a human decision goes through the same code, guardrails and ledger."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from controlplane import keys
from controlplane.clock import FixedClock, SystemClock, isoformat, parse_timestamp
from controlplane.config import ControlPlaneConfig, load_config
from controlplane.events import checks_group, ledger_table_name, notify_topic, ops_bus_name
from controlplane.ledger import IncidentLedger
from controlplane.runtime import Dependencies
from controlplane.settings import SEVERITIES, Settings
from opsctl.world import LocalWorld, provision, use_fake_credentials


@dataclass
class OperatorContext:
    config: ControlPlaneConfig
    deps: Dependencies
    world: LocalWorld | None = None  # the replay state's emulated account; None on a real one

    @property
    def local(self) -> bool:
        return self.world is not None

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.config.region}:{self.config.account}:{resource}"

    def function_behind(self, target_arn: str) -> str | None:
        """The function a rule, schedule or subscription target reaches: a function ARN (any alias or
        version), or in the replay state the queue that stands in for a function on the ops bus."""
        if self.world is not None and target_arn in self.world.stand_ins:
            return self.world.stand_ins[target_arn]
        parts = target_arn.split(":")
        return parts[6] if len(parts) >= 7 and parts[2] == "lambda" and parts[5] == "function" else None

    @property
    def ledger(self) -> IncidentLedger:
        return self.deps.repository(IncidentLedger)

    def deps_for(self, function: str) -> Dependencies:
        """The dependencies `function` has when deployed (its own ARN for the checks it schedules)."""
        settings = self.deps.settings.of_function(self.config.prefix, self.config.account, self.config.region, function)
        # Fresh clients (they count calls per function), but the local runtime's AWS Backup stand-in stays.
        kept = {name: client for name, client in self.deps._clients.items() if name == "backup" and self.local}
        return dataclasses.replace(self.deps, settings=settings, _clients=kept)


def uses_real_account(args: Any) -> bool:
    return bool(args.profile or args.region or os.environ.get("AWS_ENDPOINT_URL"))


@contextmanager
def operator_context(args: Any, *, save: bool = False) -> Iterator[OperatorContext]:
    config = load_config(args.config)
    if uses_real_account(args):
        yield _real(args, config)
        return
    yield from _local(Path(args.state), config, save=save)


def _real(args: Any, config: ControlPlaneConfig) -> OperatorContext:
    """Names follow the stacks' conventions ({app}-{env}-…), so the config is all a human needs."""
    # boto3 honours AWS_ENDPOINT_URL itself (LocalStack, a moto server, a VPC endpoint).
    session = boto3.session.Session(profile_name=args.profile, region_name=args.region or config.region)
    prefix, account, region = config.prefix, config.account, config.region
    policy_dir = Path(tempfile.mkdtemp(prefix="opsctl-policy-"))
    (policy_dir / "policy.json").write_text(json.dumps(config.policy()), encoding="utf-8")
    settings = Settings(
        ledger_table=getattr(args, "table", None) or ledger_table_name(prefix),
        ops_bus_name=ops_bus_name(prefix),
        notify_topics={s: f"arn:aws:sns:{region}:{account}:{notify_topic(prefix, s)}" for s in SEVERITIES},
        rejects_queue_url=f"https://sqs.{region}.amazonaws.com/{account}/{prefix}-triage-dlq",
        policy_path=str(policy_dir / "policy.json"),
        web_acl_id=_web_acl_id(session, config.waf),
        schedule_group=checks_group(prefix),
        scheduler_role_arn=None,  # per function (deps_for)
    )
    return OperatorContext(config, Dependencies(settings=settings, clock=SystemClock(), session=session))


def _web_acl_id(session: Any, waf: dict[str, Any]) -> str | None:
    if waf["existing_web_acl_id"]:
        return str(waf["existing_web_acl_id"])  # its owner's (a member account's is only known so)
    try:
        acls = session.client("wafv2").list_web_acls(Scope=waf["scope"])["WebACLs"]
    except Exception:  # noqa: BLE001 - without WAF access the incident commands still work
        return None
    return next((acl["Id"] for acl in acls if acl["Name"] == waf["web_acl_name"]), None)


def _local(state: Path, config: ControlPlaneConfig, *, save: bool) -> Iterator[OperatorContext]:
    if not state.exists():
        raise FileNotFoundError(f"{state}: no replay state yet; run `opsctl replay` (or `make demo`) first")
    saved = json.loads(state.read_text(encoding="utf-8"))
    use_fake_credentials()
    with mock_aws():
        world = provision(config, config.policy())
        clock = FixedClock(datetime.now(timezone.utc))
        deps = world.dependencies("opsctl", clock)
        dynamodb = world.client("dynamodb")
        for item in saved["ledger"]:
            dynamodb.put_item(TableName=world.settings.ledger_table, Item=item)
        # What the replay's stream delivered already is not delivered again.
        world.relayed(item[keys.SK]["S"] for item in saved["ledger"] if item[keys.PK]["S"] == keys.OUTBOX)
        _restore_waf(world, saved.get("waf_rules"))
        if world.backup is not None:
            world.backup.points = [p | {"CreationDate": parse_timestamp(p["CreationDate"])} for p in saved.get("backup_points", [])]
        yield OperatorContext(config, deps, world)
        if save:
            # As the ledger's stream would: what the command committed is relayed (pages, ops-bus
            # events) and the ops bus's rules deliver it (status page, escalation, reports).
            from opsctl.replay import Replay  # replay imports this module

            follow = Replay(config, out=io.StringIO())
            follow.attach(world, clock.now())
            follow.collect_side_effects()
            write_state(state, world)


def _restore_waf(world: Any, rules: list[dict[str, Any]] | None) -> None:
    if not rules:
        return
    wafv2 = world.web_acl_client()
    name, scope, acl_id = world.config.waf["web_acl_name"], world.config.waf["scope"], world.settings.web_acl_id
    current = wafv2.get_web_acl(Name=name, Scope=scope, Id=acl_id)
    acl = current["WebACL"]
    wafv2.update_web_acl(Name=name, Scope=scope, Id=acl_id, LockToken=current["LockToken"],
                         DefaultAction=acl["DefaultAction"], Rules=rules, VisibilityConfig=acl["VisibilityConfig"])


def write_state(state: Path, world: Any) -> None:
    """The replay's ledger, WebACL rules and recovery points, for `opsctl` to work on afterwards."""
    pages = world.client("dynamodb").get_paginator("scan").paginate(TableName=world.settings.ledger_table)
    acl = world.web_acl_client().get_web_acl(Name=world.config.waf["web_acl_name"], Scope=world.config.waf["scope"],
                                             Id=world.settings.web_acl_id)
    state.parent.mkdir(parents=True, exist_ok=True)
    points = [p | {"CreationDate": isoformat(p["CreationDate"])} for p in (world.backup.points if world.backup else [])]
    state.write_text(json.dumps({"ledger": [i for page in pages for i in page["Items"]],
                                 "waf_rules": acl["WebACL"]["Rules"], "backup_points": points}, default=str),
                     encoding="utf-8")
