"""`opsctl`: the runbook's commands for the humans on call."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from controlplane.clock import isoformat
from controlplane.errors import ConfigError, IncidentNotFound
from opsctl import REPO_ROOT
from opsctl.incidents import format_incident, format_table, with_ledger
from stacks.config import load_config

DEFAULT_CONFIG = REPO_ROOT / "config" / "demo.yaml"
REPLAY_DIR = Path(".replay")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="opsctl", description="Ops Control Plane operator CLI")
    commands = parser.add_subparsers(dest="command", required=True)

    replay = commands.add_parser("replay", help="replay AWS events (JSON Lines) against an embedded AWS")
    replay.add_argument("events", type=Path, help="JSON Lines file, one AWS event per line")
    replay.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    replay.add_argument("--report", type=Path, default=REPLAY_DIR / "report.json")
    replay.add_argument("--state", type=Path, default=REPLAY_DIR / "ledger.json",
                        help="where to keep the ledger for `opsctl incident` afterwards")
    replay.add_argument("--dry-run", action="store_true", help="every remediation decides but writes nothing")
    replay.add_argument("--no-traffic-history", dest="traffic_history", action="store_false",
                        help="start with no traffic history (a brand-new deployment: no baseline yet)")
    replay.set_defaults(run=run_replay)

    incident = commands.add_parser("incident", help="list, show and acknowledge incidents")
    actions = incident.add_subparsers(dest="action", required=True)
    for name, helptext in (("list", "incidents, newest first"), ("show", "one incident with its timeline"),
                           ("ack", "acknowledge an incident")):
        sub = actions.add_parser(name, help=helptext)
        if name != "list":
            sub.add_argument("incident_id", metavar="INC-YYYY-NNN")
        else:
            sub.add_argument("--status", choices=["OPEN", "ACKNOWLEDGED", "RESOLVED"])
            sub.add_argument("--limit", type=int, default=50)
        if name == "ack":
            sub.add_argument("--by", default=getpass.getuser(), help="who acknowledges (default: you)")
        sub.add_argument("--profile", help="AWS profile: act on a real account")
        sub.add_argument("--region", help="AWS Region: act on a real account")
        sub.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="names the ledger table")
        sub.add_argument("--table", help="ledger table name (default: <app>-<env>-ledger from --config)")
        sub.add_argument("--state", default=str(REPLAY_DIR / "ledger.json"),
                         help="replay state used when no account is named (no --profile/--region/AWS_ENDPOINT_URL)")
        sub.add_argument("--json", action="store_true", help="machine-readable output")
        sub.set_defaults(run=run_incident)
    return parser


def run_replay(args: argparse.Namespace) -> int:
    from opsctl.replay import Replay, write_report

    config = load_config(args.config)
    replay = Replay(config, dry_run=args.dry_run, traffic_history=args.traffic_history)
    with args.events.open(encoding="utf-8") as lines:
        report = replay.run(iter(lines))
    write_report(report, args.report)
    args.state.parent.mkdir(parents=True, exist_ok=True)
    args.state.write_text(json.dumps(replay.final_ledger), encoding="utf-8")
    counts = report.as_dict()["events"]
    print(f"\n{counts['received']} events: {counts['processed']} processed, {counts['duplicates']} duplicates, "
          f"{counts['rejected']} rejected; {len(report.incidents)} incidents, {len(report.notifications)} "
          f"notifications, {len(report.actions)} actions")
    print(f"report: {args.report}")
    return 0


def run_incident(args: argparse.Namespace) -> int:
    if args.table is None:
        args.table = f"{load_config(args.config).prefix}-ledger"
    if args.action == "list":
        def listing(ledger):  # type: ignore[no-untyped-def]
            found = []
            for incident in ledger.iter_incidents():
                if args.status is None or incident["status"] == args.status:
                    found.append(incident)
                if len(found) >= args.limit:
                    break
            return found

        incidents = with_ledger(args, listing)
        print(json.dumps(incidents, indent=2) if args.json else format_table(incidents))
    elif args.action == "show":
        incident = with_ledger(args, lambda ledger: ledger.get_incident(args.incident_id))
        print(json.dumps(incident, indent=2) if args.json else format_incident(incident))
    else:
        now = isoformat(datetime.now(timezone.utc))
        incident = with_ledger(args, lambda ledger: ledger.acknowledge(args.incident_id, args.by, now), save=True)
        if args.json:
            print(json.dumps(incident, indent=2))
        elif incident["status"] == "RESOLVED":
            print(f"{incident['id']} is already RESOLVED; nothing to acknowledge")
        else:
            print(f"{incident['id']} is {incident['status']} (acknowledged by {incident['acknowledged_by']} "
                  f"at {incident['acknowledged_at']})")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (ConfigError, FileNotFoundError, IncidentNotFound) as error:
        print(f"opsctl: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
