"""`opsctl`: the runbook's commands for the humans on call."""

from __future__ import annotations

import argparse
import getpass
import io
import json
import os
import re
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from controlplane.alarms import current_state
from controlplane.clock import isoformat, parse_timestamp
from controlplane.config import CAPABILITIES, load_config
from controlplane.errors import ConfigError, MalformedEvent, NotFound, Unreachable
from controlplane.guardrails import Guardrails
from controlplane.logs_insights import top_errors
from controlplane.policy import Policy
from controlplane.records import Baselines, Coverage
from controlplane.settings import SEVERITIES
from controlplane.text import safe_text
from opsctl import REPO_ROOT, formatting
from opsctl.context import OperatorContext, operator_context
from opsctl.investigate import investigation
from opsctl.investigate import render as render_investigation
from opsctl.lambda_host import function_module
from opsctl.logs import error_lines
from opsctl.story import incident_story, metric_around, metric_series

DEFAULT_CONFIG = REPO_ROOT / "config" / "demo.yaml"
STATUSES = {"OPEN", "ACKNOWLEDGED", "RESOLVED"}
REPLAY_DIR = Path(".replay")


def duration(text: str) -> timedelta:
    """30m, 2h, 1d."""
    match = re.fullmatch(r"(\d+)([mhd])", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30m, 2h or 1d")
    return timedelta(**{{"m": "minutes", "h": "hours", "d": "days"}[match.group(2)]: int(match.group(1))})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="opsctl", description="Ops Control Plane operator CLI")
    commands = parser.add_subparsers(dest="command", required=True)

    replay = commands.add_parser("replay", help="replay AWS events (JSON Lines) against an embedded AWS")
    replay.add_argument("events", type=Path, help="JSON Lines file, one AWS event per line")
    replay.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    replay.add_argument("--report", type=Path, default=REPLAY_DIR / "report.json")
    replay.add_argument("--state", type=Path, default=REPLAY_DIR / "state.json",
                        help="where to leave the ledger and WebACL for `opsctl` afterwards")
    replay.add_argument("--dry-run", action="store_true", help="every remediation decides but writes nothing")
    replay.add_argument("--no-traffic-history", dest="traffic_history", action="store_false",
                        help="start with no traffic history (a brand-new deployment: no baseline yet)")
    replay.set_defaults(run=run_replay)

    def target(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument("--profile", help="AWS profile: act on a real account")
        sub.add_argument("--region", help="AWS Region: act on a real account")
        sub.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="names the deployed resources")
        sub.add_argument("--state", type=Path, default=REPLAY_DIR / "state.json",
                         help="replay state, used when no account is named (no --profile/--region/AWS_ENDPOINT_URL)")
        sub.add_argument("--json", action="store_true", help="machine-readable output")
        return sub

    incident = commands.add_parser("incident", help="list, show and acknowledge incidents").add_subparsers(
        dest="action", required=True)
    listing = target(incident.add_parser("list", help="what is burning now (open or acknowledged), newest first"))
    listing.add_argument("--all", action="store_true", help="resolved incidents too")
    listing.add_argument("--status", choices=["OPEN", "ACKNOWLEDGED", "RESOLVED"])
    listing.add_argument("--severity", action="append", choices=SEVERITIES, help="only these (repeatable)")
    listing.add_argument("--since", type=duration, help="opened in the last 30m, 2h, 7d, …")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--table", help="ledger table (default: <app>-<env>-ledger)")
    declare = target(incident.add_parser("declare", help="open an incident no alarm raised (paged and escalated "
                                                          "as any other; end it with resolve)"))
    declare.add_argument("--severity", required=True, choices=SEVERITIES)
    declare.add_argument("--component", required=True, help="what is affected (the status page shows it)")
    declare.add_argument("--summary", required=True, help="what is wrong, in a sentence (the page's impact)")
    declare.add_argument("--by", default=getpass.getuser(), help="who (default: you)")
    # One incident's verbs: what each says, and whether a human's name goes on the record (--by).
    verbs = {"show": ("one incident: its timeline, pages and decisions", False),
             "ack": ("acknowledge (stops its escalation)", True),
             "report": ("the incident report (runbook: Internal Communication)", False),
             "analyze": ("a post-mortem draft: timeline, automation, metric, open questions (kept in the reports "
                         "bucket)", False),
             "note": ("add a note to the timeline (announced as an update)", True),
             "assign": ("name the incident's owner", True),
             "resolve": ("close an incident whose alarm is stuck (paged as resolved)", True),
             "severity": ("re-grade up or down: deadlines follow, paged once at the new severity", True)}
    for name, (text, by) in verbs.items():
        sub = target(incident.add_parser(name, help=text))
        sub.add_argument("incident_id", metavar="INC-YYYY-NNN")
        sub.add_argument("--table", help="ledger table (default: <app>-<env>-ledger)")
        if by:
            sub.add_argument("--by", default=getpass.getuser(), help="who (default: you)")
        if name == "note":
            sub.add_argument("text")
        elif name == "assign":
            sub.add_argument("--to", required=True, help="who owns it now")
        elif name == "resolve":
            sub.add_argument("--reason", required=True, help="why it is over although the alarm says otherwise")
        elif name == "severity":
            sub.add_argument("severity", choices=SEVERITIES)
            sub.add_argument("--reason", required=True, help="why it is more (or less) urgent than the alarm said")
    incident_parser = commands.choices["incident"]
    incident_parser.set_defaults(run=run_incident)

    investigate = target(commands.add_parser("investigate", help="one incident's context: the alarm's recent "
                                                                 "history, deployments before it, its metric "
                                                                 "(runbook: alert:investigate)"))
    investigate.add_argument("incident_id", metavar="INC-YYYY-NNN")
    investigate.set_defaults(run=run_investigate)

    logs = commands.add_parser("logs", help="the application's logs (config investigate.log_groups)").add_subparsers(
        dest="action", required=True)
    search = target(logs.add_parser("search", help="the most frequent error messages (runbook: logs:search)"))
    window = search.add_mutually_exclusive_group(required=True)
    window.add_argument("--incident", metavar="INC-YYYY-NNN", help="while this incident lasted")
    window.add_argument("--since", type=duration, help="the last 30m, 24h, …")
    search.add_argument("--limit", type=int, default=10)
    commands.choices["logs"].set_defaults(run=run_logs)

    metrics = target(commands.add_parser("metrics", help="each alarm's metric over a timeframe, against its threshold "
                                                         "(runbook: monitor:metrics)"))
    metrics.add_argument("--timeframe", type=duration, default=timedelta(hours=1), help="30m, 1h (default), 1d, …")
    metrics.add_argument("--alarm", action="append", help="only this alarm (its key or name; repeatable)")
    metrics.set_defaults(run=run_metrics)

    notify = commands.add_parser("notify", help="tell people: the runbook's stakeholder message").add_subparsers(
        dest="audience", required=True)
    stakeholders = target(notify.add_parser("stakeholders", help="the incident report (and your message) to the "
                                                                 "contacts of a severity, on the timeline"))
    stakeholders.add_argument("--incident", required=True, metavar="INC-YYYY-NNN")
    stakeholders.add_argument("--severity", type=severity_of, help="whose contacts: P0–P3 or the runbook's "
                              "critical/high/medium/low (default: the incident's)")
    stakeholders.add_argument("--message", default="", help="what you want them to know, beyond the report")
    stakeholders.add_argument("--by", default=getpass.getuser(), help="who (default: you)")
    stakeholders.add_argument("--table", help="ledger table (default: <app>-<env>-ledger)")
    commands.choices["notify"].set_defaults(run=run_notify)

    waf = commands.add_parser("waf", help="WAF rate limiting: status, block, unblock").add_subparsers(
        dest="action", required=True)
    target(waf.add_parser("status", help="the rate rule's action, the ledger's view and recent decisions"))
    for name in ("block", "unblock"):
        sub = target(waf.add_parser(name, help=f"{name} now, through the guardrails (a human decision)"))
        sub.add_argument("--for", dest="for_", type=duration, help="undo automatically after 30m, 2h, …")
        sub.add_argument("--dry-run", action="store_true", help="decide and record, write nothing")
        forceable(sub)
        sub.add_argument("--by", default=getpass.getuser())
    commands.choices["waf"].set_defaults(run=run_waf)

    automation = commands.add_parser("automation", help="kill switch and per-capability pause").add_subparsers(
        dest="action", required=True)
    for name in ("pause", "resume", "status"):
        sub = target(automation.add_parser(name, help={"pause": "stop automated actions (all, or one capability)",
                                                       "resume": "lift a pause", "status": "what is paused"}[name]))
        if name != "status":
            sub.add_argument("capability", nargs="?", choices=CAPABILITIES,
                             help="one capability; without it, the global kill switch")
        if name == "pause":
            sub.add_argument("--for", dest="for_", type=duration, default=timedelta(hours=2))
            sub.add_argument("--reason", default="paused by an operator")
            sub.add_argument("--by", default=getpass.getuser())
    commands.choices["automation"].set_defaults(run=run_automation)

    deploy = commands.add_parser("deploy", help="deployments: record, status, history, rollback").add_subparsers(
        dest="action", required=True)
    sub = target(deploy.add_parser("record", help="a deployment, as a pipeline reports it"))
    sub.add_argument("--target", required=True)
    sub.add_argument("--version", required=True)
    sub.add_argument("--artifact")
    sub.add_argument("--force", action="store_true", help="record a quarantined version anyway (roll forward)")
    sub.add_argument("--by", default=getpass.getuser())
    for name in ("status", "history"):
        sub = target(deploy.add_parser(name, help="live version per target" if name == "status"
                                       else "versions in order, newest first"))
        sub.add_argument("--target")
    sub = target(deploy.add_parser("rollback", help="roll back now (a human decision, through the guardrails)"))
    sub.add_argument("--target", required=True)
    sub.add_argument("--to", help="version to go back to (default: the previous good one)")
    sub.add_argument("--environment", help="config/<environment>.yaml (instead of --config)")
    sub.add_argument("--dry-run", action="store_true")
    forceable(sub)
    sub.add_argument("--by", default=getpass.getuser())
    commands.choices["deploy"].set_defaults(run=run_deploy)

    report = commands.add_parser("report", help="daily, weekly and monthly reports (runbook: Metrics & Reporting)")
    target(report)
    report.add_argument("period", choices=["daily", "weekly", "monthly"])
    report.add_argument("--date", type=date.fromisoformat, help="a day in the period (default: the last full one)")
    report.set_defaults(run=run_report)
    target(commands.add_parser("status", help="what the status page says now")).set_defaults(run=run_status)

    maintenance = commands.add_parser("maintenance", help="maintenance windows and maintenance mode").add_subparsers(
        dest="action", required=True)
    sub = target(maintenance.add_parser("enable", help="open a window now: pages held back, automation paused"))
    sub.add_argument("--message", required=True, help="what users and on-call are told")
    sub.add_argument("--for", dest="for_", type=duration, help="how long (default: config maintenance.default_minutes)")
    sub.add_argument("--component", action="append", default=[], help="limit the scope to a component (repeatable)")
    sub.add_argument("--alarm", action="append", default=[], help="limit the scope to alarms (name or pattern, repeatable)")
    sub.add_argument("--by", default=getpass.getuser())
    target(maintenance.add_parser("status", help="open windows, what they held back, and recent ones"))
    sub = target(maintenance.add_parser("disable", help="close a window now; its alarms are re-checked"))
    sub.add_argument("--window", help="which one (default: the only one open)")
    sub.add_argument("--by", default=getpass.getuser())
    sub = target(maintenance.add_parser("extend", help="push a window's end later"))
    sub.add_argument("--for", dest="for_", type=duration, required=True)
    sub.add_argument("--window", help="which one (default: the only one open)")
    sub.add_argument("--by", default=getpass.getuser())
    commands.choices["maintenance"].set_defaults(run=run_maintenance)

    backup = commands.add_parser("backup", help="backups: list, verify, test-restore, cleanup").add_subparsers(
        dest="action", required=True)
    target(backup.add_parser("list", help="protected resources, their newest recovery point and its age"))
    sub = target(backup.add_parser("verify", help="freshness against RPO and retention, now (findings → incidents)"))
    sub.add_argument("--resource", help="one resource ARN (default: all protected resources)")
    sub = target(backup.add_parser("test-restore", help="restore the newest recovery point into a test copy"))
    sub.add_argument("--resource", required=True, help="the protected resource's ARN")
    sub.add_argument("--wait", action="store_true", help="show progress until it is restored and validated")
    sub.add_argument("--by", default=getpass.getuser())
    sub = target(backup.add_parser("cleanup", help="recovery points whose resource is gone"))
    sub.add_argument("--dry-run", action="store_true")
    commands.choices["backup"].set_defaults(run=run_backup)

    calendar = commands.add_parser("calendar", help="upcoming runbook tasks and windows, in local time")
    calendar.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    calendar.add_argument("--days", type=int, default=7)
    calendar.add_argument("--json", action="store_true")
    calendar.set_defaults(run=run_calendar)

    decisions = commands.add_parser("decisions", help="the decision records of automated and human actions")
    decision_actions = decisions.add_subparsers(dest="action", required=True)
    sub = target(decision_actions.add_parser("list", help="newest first"))
    sub.add_argument("--limit", type=int, default=20)
    sub = target(decision_actions.add_parser("show", help="one decision with its inputs and outcome"))
    sub.add_argument("decision_id", metavar="DEC-…")
    decisions.set_defaults(run=run_decisions)

    org = commands.add_parser("org", help="the organization's member accounts (config organization:)").add_subparsers(
        dest="action", required=True)
    target(org.add_parser("status", help="each account × Region: last heartbeat, spoke version, role check, state "
                                         "(exit 1 if any is a blind spot)"))
    commands.choices["org"].set_defaults(run=run_org)

    target(commands.add_parser("verify", help="after a deploy: the account checked against the config "
                                              "(exit 1 if anything is missing or wrong)")).set_defaults(run=run_verify)
    sub = target(commands.add_parser(
        "drill", help="fire drill: flip the drill alarm and time each hop to the page and back "
                      "(exit 0 passed, 1 failed, 3 inconclusive: page held back or drill already running)"))
    sub.add_argument("--by", default=getpass.getuser())
    sub.set_defaults(run=run_drill)
    return parser


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else text)


def run_replay(args: argparse.Namespace) -> int:
    from opsctl.replay import Replay, write_report

    config = load_config(args.config)
    replay = Replay(config, dry_run=args.dry_run, traffic_history=args.traffic_history, state=args.state)
    with args.events.open(encoding="utf-8") as lines:
        report = replay.run(iter(lines))
    write_report(report, args.report)
    counts = report.as_dict()["events"]
    print(f"\n{counts['received']} events: {counts['processed']} processed, {counts['duplicates']} duplicates, "
          f"{counts['rejected']} rejected; {len(report.incidents)} incidents, {len(report.notifications)} "
          f"notifications, {len(report.actions)} actions")
    print(f"report: {args.report}")
    return 0


CHANGES_AN_INCIDENT = ("declare", "ack", "note", "assign", "resolve", "severity", "analyze")


def run_incident(args: argparse.Namespace) -> int:
    with operator_context(args, save=args.action in CHANGES_AN_INCIDENT) as context:
        ledger = context.ledger
        if args.action == "declare":
            declare = function_module("triage", "triage_service").declare
            outcome = declare(severity=args.severity, component=safe_text(args.component, 100),
                              summary=safe_text(args.summary, 500), by=f"human:{args.by}",
                              deps=context.deps_for("triage"))
            incident = ledger.get_incident(str(outcome.incident))
            emit(args, incident, f"{incident['id']} declared by {args.by}: [{incident['severity']}] "
                                 f"{incident['component']}: {incident['impact']} (acknowledge by {incident['ack_due_at']})")
        elif args.action == "list":
            now = context.deps.clock.now()
            since = isoformat(now - args.since) if args.since else None
            wanted = {args.status} if args.status else (STATUSES if args.all else {"OPEN", "ACKNOWLEDGED"})
            found = [i for i in ledger.iter_incidents(opened_since=since)
                     if i["status"] in wanted and (not args.severity or i["severity"] in args.severity)][: args.limit]
            policy = context.deps.policy
            names = policy.organization.accounts

            def where(account: str, region: str) -> str | None:
                return None if (account, region) == (policy.account, policy.region) else f"{names.get(account, account)}/{region}"
            emit(args, found, formatting.incident_table(found, now, resolved_too=bool(args.all or args.status),
                                                        where=where if policy.organization.enabled else None))
        elif args.action == "show":
            story = incident_story(context.deps, ledger.get_incident(args.incident_id))
            emit(args, story, formatting.incident_detail(story))
        elif args.action in ("note", "assign"):
            at = isoformat(context.deps.clock.now())
            entry: dict[str, Any] = {"at": at, "event": "note" if args.action == "note" else "assigned",
                                     "by": f"human:{args.by}"}
            fields: dict[str, Any] = {}
            if args.action == "note":
                entry["reason"] = safe_text(args.text, 2000)
            else:
                entry["to"] = fields["assigned_to"] = safe_text(args.to, 100)
                fields["assigned_at"] = at
            incident = ledger.annotate(args.incident_id, entry=entry, set_fields=fields,
                                       ops_bus=context.deps.settings.ops_bus_name)
            emit(args, incident, f"{incident['id']}: {entry['event']} by {args.by}"
                 + (f" → {incident['assigned_to']}" if args.action == "assign" else ""))
        elif args.action == "resolve":
            before = ledger.get_incident(args.incident_id)
            state, _ = current_state(context.deps.client("cloudwatch"), before["alarm_name"])
            incident = ledger.resolve(args.incident_id, by=f"human:{args.by}", reason=safe_text(args.reason, 500),
                                      alarm_state=state, at=isoformat(context.deps.clock.now()),
                                      ops_bus=context.deps.settings.ops_bus_name)
            emit(args, incident, f"{incident['id']} was RESOLVED already" if before["status"] == "RESOLVED" else
                 f"{incident['id']} RESOLVED by {args.by} (alarm {before['alarm_name']} is {state or 'unknown'})")
        elif args.action == "severity":
            before = ledger.get_incident(args.incident_id)
            policy = context.deps.policy
            incident = ledger.regrade(
                args.incident_id, severity=args.severity, by=f"human:{args.by}", reason=safe_text(args.reason, 500),
                at=isoformat(context.deps.clock.now()), ops_bus=context.deps.settings.ops_bus_name,
                response_minutes=policy.severities[args.severity].response_minutes,
                resolve_minutes=policy.escalation.resolve_minutes[args.severity])
            if incident["severity"] != before["severity"]:
                _service(context, "escalation", "escalation_service", "EscalationService").regraded(incident)
                text = (f"{incident['id']} re-graded {before['severity']} → {incident['severity']} by {args.by} "
                        f"(acknowledge by {incident.get('ack_due_at') if incident['status'] == 'OPEN' else '-'}, "
                        f"resolve by {incident['resolve_due_at']})")
            else:
                text = f"{incident['id']} is {incident['status']} at {incident['severity']}: nothing to re-grade"
            emit(args, incident, text)
        elif args.action == "analyze":
            story = incident_story(context.deps, ledger.get_incident(args.incident_id))
            now = context.deps.clock.now()
            metric = metric_around(context.deps.client("cloudwatch"), context.config, story, now)
            draft = function_module("reporting", "reports").render_postmortem(story, metric, context.deps.policy)
            key = f"postmortems/{story['id']}.md"
            context.deps.client("s3").put_object(Bucket=context.deps.settings.reports_bucket, Key=key,
                                                 Body=draft.encode(), ContentType="text/markdown; charset=utf-8")
            emit(args, {"incident": story["id"], "draft": draft, "kept_at": f"s3://{context.deps.settings.reports_bucket}/{key}"},
                 draft)
        elif args.action == "report":
            incident = ledger.get_incident(args.incident_id)
            emit(args, incident, function_module("reporting", "reports").render_incident_report(incident))
        else:
            escalation = _service(context, "escalation", "escalation_service", "EscalationService")
            incident = escalation.acknowledge(args.incident_id, args.by)
            if incident["status"] == "RESOLVED":
                text = f"{incident['id']} is already RESOLVED; nothing to acknowledge"
            else:
                text = (f"{incident['id']} is {incident['status']} (acknowledged by {incident['acknowledged_by']} "
                        f"at {incident['acknowledged_at']})")
            emit(args, incident, text)
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from opsctl.verify import as_json, render, verify

    with operator_context(args) as context:
        checks = verify(context)
    emit(args, as_json(checks), render(checks))
    return 0 if all(check.ok for check in checks) else 1


DRILL_EXIT = {"passed": 0, "failed": 1}


def run_drill(args: argparse.Namespace) -> int:
    with operator_context(args, save=True) as context:
        if context.world is None:
            drill = _service(context, "drill", "drill_service", "FireDrill")
            result = drill.run(started_by=f"human:{args.by}", occurrence=isoformat(context.deps.clock.now()))
            result = result.as_dict()
        else:
            # The emulated account: CloudWatch's state changes are delivered through the replay's
            # pipeline while the drill waits (its timeline is printed as it goes).
            from opsctl.replay import Replay

            replay = Replay(context.config, out=io.StringIO() if args.json else sys.stdout)
            replay.attach(context.world, context.deps.clock.now())
            result = replay.invoke("drill", {"task": "drill", "by": args.by})["drill"]
    emit(args, result, formatting.drill_result(result))
    return DRILL_EXIT.get(result["outcome"], 3)


def _service(context: OperatorContext, function: str, module: str, cls: str) -> Any:
    """The deployed function's own service class, run here with the operator's credentials."""
    return getattr(function_module(function, module), cls)(context.deps_for(function))


def forceable(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="store_true",
                        help="past the cooldown, flap guard and action budget (never the data checks); needs --reason")
    parser.add_argument("--reason", help="why: recorded with the decision")


def human_request(args: argparse.Namespace, context: OperatorContext, actions: tuple[str, ...], target: str) -> dict[str, Any]:
    """The ledger record of this human's request, and what the manual task carries of it."""
    if args.force and not args.reason:
        raise ConfigError("--force needs --reason: it is recorded with the decision")
    request = _guardrails(context).record_request(by=args.by, actions=actions, target=target, reason=args.reason,
                                                  at=context.deps.clock.now())
    return {"request": request, **({"force_reason": args.reason} if args.force else {})}


def run_investigate(args: argparse.Namespace) -> int:
    with operator_context(args) as context:
        deployments = _service(context, "rollback", "rollback_service", "RollbackService").deployments
        incident = context.ledger.get_incident(args.incident_id)
        now = context.deps.clock.now()
        found = investigation(context.deps.client("cloudwatch"), context.ledger, deployments,
                              sorted(context.deps.policy.rollback.targets), context.config, incident, now,
                              emulated=context.local, errors=_errors(context, _incident_window(incident, now)))
        emit(args, found, render_investigation(found))
    return 0


def _incident_window(incident: dict[str, Any], now: datetime) -> tuple[datetime, datetime]:
    """From a little before the incident opened (the cause comes first) until it ended, or now."""
    end = parse_timestamp(incident["resolved_at"]) if incident.get("resolved_at") else now
    return parse_timestamp(incident["opened_at"]) - ERRORS_BEFORE, end


def _errors(context: OperatorContext, window: tuple[datetime, datetime], limit: int = 10) -> dict[str, Any]:
    """The application's top errors in `window`, from the config's log groups."""
    return top_errors(context.deps.client("logs"), context.deps.policy.investigate.log_groups, *window,
                      sleep=context.deps.sleep, limit=limit)


def run_logs(args: argparse.Namespace) -> int:
    with operator_context(args) as context:
        now = context.deps.clock.now()
        window = _incident_window(context.ledger.get_incident(args.incident), now) if args.incident \
            else (now - args.since, now)
        found = _errors(context, window, args.limit)
        emit(args, found, "\n".join([f"Top errors ({found['status']}):", *error_lines(found)]))
    return 0


def run_metrics(args: argparse.Namespace) -> int:
    with operator_context(args) as context:
        now = context.deps.clock.now()
        wanted = [spec for spec in context.config.alarms
                  if not args.alarm or spec.key in args.alarm or spec.name in args.alarm]
        cloudwatch = context.deps.client("cloudwatch")
        series = [{"alarm": spec.name} | metric_series(cloudwatch, spec, now - args.timeframe, now) for spec in wanted]
        emit(args, series, formatting.metric_table(series))
    return 0


# How long before an incident opened its errors are searched from (the cause comes first).
ERRORS_BEFORE = timedelta(minutes=15)


# The runbook's words for the severities (`notify:stakeholders --severity critical`).
RUNBOOK_SEVERITIES = {"critical": "P0", "high": "P1", "medium": "P2", "low": "P3"}


def severity_of(text: str) -> str:
    severity = RUNBOOK_SEVERITIES.get(text.lower(), text.upper())
    if severity not in SEVERITIES:
        raise argparse.ArgumentTypeError(f"{text!r}: one of {', '.join(SEVERITIES)} or {', '.join(RUNBOOK_SEVERITIES)}")
    return severity


def run_notify(args: argparse.Namespace) -> int:
    with operator_context(args, save=True) as context:
        incident = context.ledger.get_incident(args.incident)
        severity = args.severity or incident["severity"]
        message = function_module("reporting", "reports").render_incident_report(incident)
        if args.message:
            message += f"\n\n### From {safe_text(args.by, 100)}\n{safe_text(args.message, 2000)}"
        updated = context.ledger.notify_stakeholders(
            incident["id"], by=f"human:{args.by}", message=message, severity=severity,
            at=isoformat(context.deps.clock.now()), ops_bus=context.deps.settings.ops_bus_name)
        emit(args, updated, f"{incident['id']}: stakeholders ({severity} contacts) notified by {args.by}")
    return 0


def run_waf(args: argparse.Namespace) -> int:
    with operator_context(args, save=args.action != "status") as context:
        service = _service(context, "waf_toggle", "waf_service", "WafService")
        if args.action == "status":
            state = service.guardrails.target_state(service.target)
            status = {"target": service.target, "where": service.where or "hub",
                      "rule_action": _rule_action(service),
                      "ledger_last_action": state.get("last_action"), "since": state.get("last_action_at"),
                      "baseline": context.deps.repository(Baselines).read(service.waf.traffic_alarm),
                      "controls": _guardrails(context).controls()}
            emit(args, status, "\n".join(f"{k:>18}: {v}" for k, v in status.items()))
            return 0
        # The expiry (--for) undoes it later as the same request.
        undo = "unblock" if args.action == "block" else "block"
        request = human_request(args, context, (args.action, undo) if args.for_ else (args.action,), service.target)
        actions = service.handle({"task": "manual", "action": args.action, "by": args.by, "dry_run": args.dry_run,
                                  "for_minutes": int(args.for_.total_seconds() // 60) if args.for_ else None} | request)
        for action in actions:
            emit(args, action, f"{action['type']} {action['result']}: {action['reason']} ({action.get('decision')})")
        return 0 if all(a["result"] in ("executed", "dry_run") for a in actions) else 1


def _rule_action(service: Any) -> str:
    """The rate rule's action as WAF has it; a member account's read through its spoke role, which
    an operator's credentials may not be trusted by."""
    try:
        return str(service.rule("opsctl-waf-status").current_action())
    except Unreachable as error:
        return f"unknown: {error}"


def _guardrails(context: OperatorContext) -> Guardrails:
    return context.deps.repository(Guardrails)


def run_automation(args: argparse.Namespace) -> int:
    with operator_context(args, save=args.action != "status") as context:
        guardrails = _guardrails(context)
        capability = getattr(args, "capability", None) or None  # None: the kill switch
        if args.action == "pause":
            until = context.deps.clock.now() + args.for_
            control = guardrails.set_control(capability, until=until, by=args.by, reason=args.reason)
            emit(args, {"control": control, "until": isoformat(until)}, f"{control} on until {isoformat(until)}")
        elif args.action == "resume":
            control = guardrails.clear_control(capability)
            emit(args, {"control": control, "cleared": True}, f"{control} cleared")
        else:
            controls = guardrails.controls()
            emit(args, controls, "\n".join(f"{c['control']:<14} active={c['active']} until {c['until']} by {c['by']}: "
                                           f"{c['reason']}" for c in controls) or "nothing is paused")
    return 0


def run_deploy(args: argparse.Namespace) -> int:
    if getattr(args, "environment", None):
        args.config = REPO_ROOT / "config" / f"{args.environment}.yaml"
    with operator_context(args, save=args.action in ("record", "rollback")) as context:
        service = _service(context, "rollback", "rollback_service", "RollbackService")
        targets = [args.target] if getattr(args, "target", None) else sorted(context.deps.policy.rollback.targets)
        if args.action == "record":
            [result] = service.handle({"task": "record", "target": args.target, "version": args.version,
                                       "artifact": args.artifact, "deployed_by": args.by, "force": args.force})
            emit(args, result, f"{result['result']}: {result['reason']}")
            return 0 if result["result"] == "recorded" else 1
        if args.action == "rollback":
            request = human_request(args, context, ("rollback",), args.target)
            [result] = service.handle({"task": "manual", "target": args.target, "to": args.to, "by": args.by,
                                       "dry_run": args.dry_run} | request)
            emit(args, result, f"{result['type']} {result['result']}: {result['reason']} ({result.get('decision')})")
            return 0 if result["result"] in ("executed", "dry_run") else 1
        if args.action == "status":
            rows = [{"target": t, **(service.deployments.head(t) or {"live_version": None}),
                     "quarantined": sorted(service.deployments.quarantined(t))} for t in targets]
            emit(args, rows, "\n".join(f"{r['target']:<8} live={r['live_version']} since {r.get('live_since', '-')} "
                                       f"by {r.get('deployed_by', '-')}; quarantined: {r['quarantined'] or 'none'}"
                                       for r in rows))
        else:
            rows = [entry | {"target": t} for t in targets for entry in service.deployments.history_with_status(t)]
            emit(args, rows, "\n".join(f"{r['target']:<8} {r['version']:<6} {r['status']:<12} {r['deployed_at'][:19]} "
                                       f"{r['deployed_by']}" for r in rows) or "no deployments")
    return 0


def run_report(args: argparse.Namespace) -> int:
    with operator_context(args) as context:
        service = _service(context, "reporting", "reporting_service", "ReportingService")
        from reports import previous_period, render_period

        day = args.date or previous_period(args.period, context.deps.clock.now(), context.config.timezone)
        metrics = service.period_metrics(args.period, day)
        emit(args, metrics, render_period(args.period, metrics, context.config.app))
    return 0


def run_status(args: argparse.Namespace) -> int:
    with operator_context(args) as context:
        status = _service(context, "reporting", "reporting_service", "ReportingService").status()
        lines = [f"{status['title']}: {status['status']}"]
        lines += [f"  {c['name']:<28} {c['status']}" for c in status["components"]]
        lines += [f"  incident: {i['component']} {i['status']} since {i['started_at'][:16]}" for i in status["incidents"]]
        lines += [f"  maintenance: {m['message']} until {m['until'][:16]}" for m in status["maintenance"]]
        emit(args, status, "\n".join(lines))
    return 0


def run_org(args: argparse.Namespace) -> int:
    with operator_context(args) as context:
        organization = context.deps.policy.organization
        if not organization.enabled:
            emit(args, [], "no organization: section in the config: this deployment watches its own account only")
            return 0
        heard = {(pair["account"], pair["region"]): pair for pair in context.deps.repository(Coverage).pairs()}
        now = context.deps.clock.now()
        rows = [formatting.coverage_row(organization.where(account, region), heard.get((account, region), {}), now,
                                        configured=True)
                for account in organization.accounts for region in organization.regions]
        rows += [formatting.coverage_row(organization.where(*pair), item, now, configured=False)
                 for pair, item in sorted(heard.items()) if not organization.watches(*pair)]
        emit(args, rows, formatting.coverage_table(rows, organization.quiet_minutes))
        return 1 if any(row["state"] != "watched" for row in rows if row["configured"]) else 0


def run_maintenance(args: argparse.Namespace) -> int:
    with operator_context(args, save=args.action != "status") as context:
        service = _service(context, "calendar", "calendar_service", "CalendarService")
        if args.action == "status":
            windows = service.windows
            active = [w.as_dict() | {"held_back": len(windows.ledger.held_back(w.id))} for w in windows.active()]
            recent = windows.ledger.history(limit=10)
            text = "\n".join([f"OPEN {w['id']} until {w['ends_at']} ({w['schedule'] or 'ad hoc'}, by {w['opened_by']}): "
                              f"{w['message']} - {w['held_back']} pages held back" for w in active] or ["no window is open"])
            text += "\n\nrecent:\n" + "\n".join(f"  {r['id']:<40} {r['status']:<6} {r['starts_at'][:16]} → {r['ends_at'][:16]}"
                                                 for r in recent)
            emit(args, {"active": active, "recent": recent}, text)
            return 0
        event: dict[str, Any] = {"task": "maintenance", "action": args.action, "by": args.by,
                                 "window": getattr(args, "window", None)}
        if getattr(args, "for_", None):
            event["minutes"] = int(args.for_.total_seconds() // 60)
        if args.action == "enable":
            event |= {"message": args.message, "components": args.component, "alarms": args.alarm}
        try:
            [result] = service.handle(event)
        except MalformedEvent as error:
            print(f"opsctl: {error.reason}", file=sys.stderr)
            return 2
        emit(args, result, f"{result['type']} {result['result']}: {result['target']} {result['reason']}")
        return 0 if result["result"] == "executed" else 1


def run_backup(args: argparse.Namespace) -> int:
    with operator_context(args, save=args.action != "list") as context:
        service = _service(context, "backup_verify", "backup_service", "BackupService")
        now = context.deps.clock.now()
        if args.action == "list":
            rows = []
            for resource in service.protected():
                newest = service.newest_point(resource.arn, service.hub)
                age = round((now - newest).total_seconds() / 60) if newest else None
                rows.append({"resource": resource.arn, "class": resource.backup_class, "rpo_minutes": resource.rpo_minutes,
                             "newest": isoformat(newest) if newest else None, "age_minutes": age,
                             "fresh": age is not None and age <= resource.rpo_minutes})
            emit(args, rows, "\n".join(f"{'ok   ' if r['fresh'] else 'STALE'} {r['resource']:<70} {r['class']:<9} "
                                       f"newest {r['newest'] or 'none'} ({r['age_minutes']} min, RPO {r['rpo_minutes']})"
                                       for r in rows) or "no protected resources (nothing carries the backup-class tag)")
            return 0 if rows and all(r["fresh"] for r in rows) else 1
        event: dict[str, Any] = {"verify": {"task": "verify", "resource": getattr(args, "resource", None)},
                                 "cleanup": {"task": "cleanup", "dry_run": getattr(args, "dry_run", False)},
                                 "test-restore": {"task": "test-restore", "resource": getattr(args, "resource", None),
                                                  "by": getattr(args, "by", None)}}[args.action]
        run, sent = service.handle(event)
        lines = [f"{n['type']} {n['result']}: {n['target']} {n['reason']}" for n in run.notes]
        lines += [f"{f.state:<5} {f.check:<10} {f.subject}: {f.reason}" for f in run.findings if f.check != "freshness"]
        lines.append(f"{len(sent)} findings changed state and went to triage")
        emit(args, run.as_dict(sent), "\n".join(lines))
        if args.action == "test-restore":
            [note] = run.notes
            if note["result"] != "executed":
                return 1
            if args.wait:
                return _wait_for_restore(service, note["restore_job"])
        return 0 if not any(f.state == "ALARM" for f in run.findings) else 1


def _wait_for_restore(service: Any, job_id: str) -> int:
    """Progress until AWS Backup has restored the copy and the verifier (on the job's completion
    event) has validated and deleted it."""
    import time

    while True:
        job = service.backup.describe_restore_job(RestoreJobId=job_id)
        print(f"  {job['Status']:<10} {job.get('PercentDone', '?')} % "
              f"validation {job.get('ValidationStatus', 'pending')}", flush=True)
        if job["Status"] in ("FAILED", "ABORTED") or job.get("ValidationStatus") in ("SUCCESSFUL", "FAILED", "TIMED_OUT"):
            print(job.get("ValidationStatusMessage") or job.get("StatusMessage") or "")
            return 0 if job.get("ValidationStatus") == "SUCCESSFUL" else 1
        time.sleep(15)


def run_calendar(args: argparse.Namespace) -> int:
    """From the config alone: the schedules the stacks deploy, as they will fire."""
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    from controlplane.cron import upcoming

    config = load_config(args.config)
    zone = ZoneInfo(config.timezone)
    now = datetime.now(timezone.utc)
    rows = [{"at": isoformat(when), "local": f"{when.astimezone(zone):%a %d %b %H:%M %Z}", "task": what}
            for when, what in upcoming(Policy(config.policy()), now, now + timedelta(days=args.days))]
    emit(args, rows, "\n".join(f"{r['local']:<22} {r['task']}" for r in rows) or f"nothing in the next {args.days} days")
    return 0


def run_decisions(args: argparse.Namespace) -> int:
    with operator_context(args) as context:
        if args.action == "list":
            found = _guardrails(context).decisions(newest_first=True, limit=args.limit)
            emit(args, found, formatting.decision_table(found))
        else:
            decision = _guardrails(context).decision(args.decision_id)
            if decision is None:
                raise NotFound("decision", args.decision_id)
            emit(args, decision, formatting.decision_detail(decision))
    return 0


# What opsctl prints holds other people's words (alarm names and reasons, messages): no control or
# escape character of theirs reaches the operator's terminal. Lines and tabs are ours.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class TerminalSafe:
    """A text stream that drops control characters (ANSI escapes included) on their way out."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(_CONTROL.sub("", text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


# What a program killed by SIGPIPE exits with (128 + 13), as `git log | head` does.
BROKEN_PIPE_EXIT = 141


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    stdout = sys.stdout
    sys.stdout = TerminalSafe(stdout)  # type: ignore[assignment]
    try:
        code = int(args.run(args))
        sys.stdout.flush()
        return code
    except (ConfigError, FileNotFoundError, NotFound) as error:
        print(f"opsctl: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`opsctl report weekly | head`): the rest is not wanted. Point stdout
        # at /dev/null so the interpreter's last flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())
        return BROKEN_PIPE_EXIT
    finally:
        sys.stdout = stdout


if __name__ == "__main__":
    sys.exit(main())
