"""`opsctl replay` end to end on the example files and on a duplicate storm."""

import json
import shutil
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from controlplane.ledger import from_item
from factories import eventbridge_alarm, sns_alarm
from opsctl.main import main
from opsctl.pagerduty_standin import stand_in
from opsctl.replay import Replay
from paths import ROOT


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """A fresh copy of an example's replay state (`opsctl replay --state`), each example replayed
    once for the module: the verbs under test change their copy only."""
    states: dict[str, Path] = {}

    def state(example: str) -> Path:
        if example not in states:
            folder = tmp_path_factory.mktemp(example)
            assert main(["replay", str(ROOT / "examples" / f"{example}.jsonl"), "--report", str(folder / "r.json"),
                         "--state", str(folder / "state.json")]) == 0
            states[example] = folder / "state.json"
        copy = tmp_path_factory.mktemp("state") / "state.json"
        shutil.copy(states[example], copy)
        return copy

    return state


def replay_example(tmp_path, name: str) -> dict:
    """`opsctl replay examples/<name>`, as a user runs it; its report."""
    report_path = tmp_path / "report.json"
    assert main(["replay", str(ROOT / "examples" / name), "--report", str(report_path),
                 "--state", str(tmp_path / "state.json")]) == 0
    return json.loads(report_path.read_text())


def test_incident_day_report(tmp_path, capsys) -> None:
    report_path = tmp_path / "report.json"
    state = tmp_path / "state.json"
    code = main(["replay", str(ROOT / "examples" / "incident-day.jsonl"), "--report", str(report_path),
                 "--state", str(state)])
    assert code == 0
    report = json.loads(report_path.read_text())
    assert report["events"] == {"received": 21, "processed": 15, "duplicates": 3, "rejected": 3}
    # The error rate flaps (ALARM 09:14, OK 09:31, ALARM 09:35 at 12.4 %: P1, OK 09:41, ALARM 09:44, OK
    # 09:52): one incident, reopened within 30 min of resolving, upgraded to P1 by the band it crossed.
    assert [(i["id"], i["severity"], i["status"], i["alarm"]) for i in report["incidents"]] == [
        ("INC-2026-001", "P1", "RESOLVED", "financeanalyst-pro-demo-error-rate"),
        ("INC-2026-002", "P2", "RESOLVED", "payments-api-lambda-errors"),
        ("INC-2026-003", "P0", "RESOLVED", "financeanalyst-pro-demo-health"),
        ("INC-2026-004", "P2", "RESOLVED", "financeanalyst-pro-demo-response-time"),
        ("INC-2026-005", "P0", "RESOLVED", "checkout-outage-composite"),
    ]
    assert report["incidents"][0]["opened_at"] == "2026-11-26T09:14:03.000Z"
    assert report["incidents"][0]["resolved_at"] == "2026-11-26T09:52:00.000Z"
    # The flapping incident pages four times: opened, resolved, reopened upgraded to P1 (a worse signal
    # is never damped), resolved once it stayed OK 30 min; its other three pages were held back, and
    # say so. Four more incidents opened and resolved, one blind spot. P0 pages went to the P0 topic.
    assert [n["subject"] for n in report["notifications"] if n["incident"] == "INC-2026-001"] == [
        "[P2] INC-2026-001 Opened: financeanalyst-pro-demo-error-rate",
        "[P2] INC-2026-001 Resolved: financeanalyst-pro-demo-error-rate",
        "[P1] INC-2026-001 Reopened (flapping #1, upgraded from P2): financeanalyst-pro-demo-error-rate",
        "[P1] INC-2026-001 Resolved after flapping: financeanalyst-pro-demo-error-rate"]
    assert [s["suppressed_by"] for s in report["suppressed_notifications"]] == ["flap damping"] * 3
    assert len(report["notifications"]) == 13
    assert {n["severity"] for n in report["notifications"] if n["incident"] == "INC-2026-003"} == {"P0"}
    assert [n["subject"] for n in report["notifications"] if n["severity"] == "P3"] == [
        "[P3] Blind spot: financeanalyst-pro-demo-storage has INSUFFICIENT_DATA"]
    # The P1 error-rate and P0 health incidents are on alarms mapped to rollback targets, but this day
    # has no deployments on record: nothing to roll back, said as such.
    assert [(a["type"], a["target"], a["result"], a["incident"]) for a in report["actions"]] == [
        ("rollback", "api", "skipped", "INC-2026-001"), ("rollback", "api", "skipped", "INC-2026-001"),
        ("rollback", "web", "skipped", "INC-2026-003")]

    timeline = capsys.readouterr().out
    assert "2026-11-26 09:14:04Z  opened     financeanalyst-pro-demo-error-rate  INC-2026-001 (P2)" in timeline
    assert "(late delivery: no remediation)" in timeline
    assert f"report: {report_path}" in timeline

    # The replay's state is what `opsctl incident` reads afterwards.
    assert main(["incident", "ack", "INC-2026-003", "--by", "alice", "--state", str(state)]) == 0
    assert main(["incident", "list", "--status", "ACKNOWLEDGED", "--json", "--state", str(state)]) == 0
    listed = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert listed == []  # INC-2026-003 was already resolved: acknowledging it changes nothing
    assert main(["incident", "show", "INC-2026-404", "--state", str(state)]) == 2


def test_thousand_duplicate_deliveries_make_one_incident_and_one_page(config) -> None:
    at = datetime(2026, 11, 26, 3, 0, tzinfo=timezone.utc)
    spec = config.alarm("health")
    both_paths = [eventbridge_alarm, sns_alarm]
    lines = [
        json.dumps(both_paths[i % 2](spec.name, "ALARM", at, value=0.0, description=spec.tagged_description,
                                     delivered_at=at + timedelta(seconds=1 + i % 50)))
        for i in range(1000)
    ]
    replay = Replay(config, out=open("/dev/null", "w"))
    report = replay.run(iter(lines)).as_dict()
    assert report["events"] == {"received": 1000, "processed": 1, "duplicates": 999, "rejected": 0}
    assert len(report["incidents"]) == 1 and report["incidents"][0]["severity"] == "P0"
    [page] = [n for n in report["notifications"] if "ESCALATION" not in n["subject"]]
    assert page["subject"].startswith("[P0] INC-2026-001 Opened")
    # Nobody acknowledged it. PagerDuty owns P0 in the demo config and took the trigger (once), so its
    # escalation policy pages and ours stands down; the resolution target is still ours.
    assert [n["subject"] for n in report["notifications"] if "ESCALATION" in n["subject"]] == [
        "[P0] ESCALATION L1: INC-2026-001 still OPEN past its resolution target (240 min)"]
    assert replay.world is not None
    taken = stand_in().taken[replay.world.pagerduty_keys["financeanalyst-emergency"]]
    assert [(event["event_action"], event["dedup_key"]) for event in taken] == [("trigger", "INC-2026-001")]


def test_incident_commands_on_a_real_account_endpoint(aws, world, harness, config, capsys) -> None:
    """--region (or --profile / AWS_ENDPOINT_URL) switches from the replay state to the account."""
    spec = config.alarm("error-rate")
    at = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
    harness.triage(eventbridge_alarm(spec.name, "ALARM", at, description=spec.tagged_description), at=at)
    assert main(["incident", "ack", "INC-2026-001", "--region", "us-east-1", "--by", "bob"]) == 0
    assert "INC-2026-001 is ACKNOWLEDGED (acknowledged by bob" in capsys.readouterr().out
    assert main(["incident", "show", "INC-2026-001", "--region", "us-east-1", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "ACKNOWLEDGED" and shown["timeline"][-1]["by"] == "bob"


def test_traffic_spike_blocks_then_returns_to_count(tmp_path) -> None:
    report = replay_example(tmp_path, "traffic-spike.jsonl")
    assert report["events"] == {"received": 4, "processed": 3, "duplicates": 1, "rejected": 0}
    assert [(i["id"], i["severity"], i["status"]) for i in report["incidents"]] == [("INC-2026-001", "P1", "RESOLVED")]
    assert [(a["type"], a["result"]) for a in report["actions"]] == [
        ("waf.block", "executed"), ("waf.count", "scheduled"),
        ("outcome-check", "succeeded"), ("waf.count", "executed")]
    assert {a["incident"] for a in report["actions"] if a["type"].startswith("waf.")} == {"INC-2026-001"}
    subjects = [n["subject"] for n in report["notifications"]]
    assert "[WAF] financeanalyst-pro-demo-edge/runbook-rate-limit: COUNT -> BLOCK" in subjects
    assert "[WAF] financeanalyst-pro-demo-edge/runbook-rate-limit: BLOCK -> COUNT" in subjects


def test_traffic_spike_dry_run_decides_and_writes_nothing(tmp_path, capsys) -> None:
    state = tmp_path / "state.json"
    assert main(["replay", str(ROOT / "examples" / "traffic-spike.jsonl"), "--dry-run", "--report",
                 str(tmp_path / "r.json"), "--state", str(state)]) == 0
    actions = json.loads((tmp_path / "r.json").read_text())["actions"]
    assert [(a["type"], a["result"]) for a in actions if a["type"].startswith("waf.")] == [
        ("waf.block", "dry_run"), ("waf.count", "skipped")]
    capsys.readouterr()
    assert main(["waf", "status", "--json", "--state", str(state)]) == 0
    assert json.loads(capsys.readouterr().out)["rule_action"] == "COUNT"


def test_operator_commands_on_the_replay_state(tmp_path, capsys) -> None:
    state = tmp_path / "state.json"
    main(["replay", str(ROOT / "examples" / "traffic-spike.jsonl"), "--report", str(tmp_path / "r.json"),
          "--state", str(state)])
    capsys.readouterr()

    def run(*argv: str) -> tuple[int, str]:
        code = main([*argv, "--state", str(state)])
        return code, capsys.readouterr().out

    assert run("waf", "block", "--for", "30m", "--by", "alice")[0] == 0
    assert json.loads(run("waf", "status", "--json")[1])["rule_action"] == "BLOCK"
    assert run("automation", "pause", "waf", "--for", "1h", "--reason", "load test", "--by", "alice")[0] == 0
    assert "PAUSE#waf      active=True" in run("automation", "status")[1]
    # A pause stops the automation, not the human it hands control to.
    assert run("waf", "unblock", "--by", "alice")[0] == 0
    assert run("automation", "resume", "waf")[0] == 0
    assert run("automation", "status")[1].strip() == "nothing is paused"
    assert json.loads(run("waf", "status", "--json")[1])["rule_action"] == "COUNT"
    decisions = json.loads(run("decisions", "list", "--json")[1])
    assert [d["decided_by"] for d in decisions[:2]] == ["human:alice", "human:alice"]
    assert [d["action"] for d in decisions[:2]] == ["waf.count", "waf.block"]
    code, out = run("decisions", "show", decisions[0]["id"])
    assert code == 0 and "waf.count" in out and "human:alice" in out
    assert run("decisions", "show", "DEC-nope")[0] == 2


def test_bad_deploy_is_rolled_back_inside_the_bake_window(tmp_path, capsys) -> None:
    state = tmp_path / "state.json"
    report_path = tmp_path / "report.json"
    assert main(["replay", str(ROOT / "examples" / "bad-deploy.jsonl"), "--report", str(report_path),
                 "--state", str(state)]) == 0
    report = json.loads(report_path.read_text())
    assert report["events"] == {"received": 5, "processed": 4, "duplicates": 1, "rejected": 0}
    assert [(a["type"], a["target"], a["result"]) for a in report["actions"]] == [
        ("deploy.record", "api", "recorded"), ("deploy.record", "api", "recorded"),
        ("rollback", "api", "executed"), ("outcome-check", "api", "succeeded")]
    assert report["actions"][2]["incident"] == "INC-2026-001"
    assert "[ROLLBACK] api: 2 -> 1" in [n["subject"] for n in report["notifications"]]
    capsys.readouterr()

    def run(*argv: str) -> tuple[int, str]:
        code = main([*argv, "--state", str(state)])
        return code, capsys.readouterr().out

    history = json.loads(run("deploy", "history", "--target", "api", "--json")[1])
    assert [(h["version"], h["status"]) for h in history] == [("2", "quarantined"), ("1", "live")]
    code, out = run("deploy", "record", "--target", "api", "--version", "2")
    assert code == 1 and "quarantined" in out
    assert run("deploy", "record", "--target", "api", "--version", "2", "--force")[0] == 0
    status = json.loads(run("deploy", "status", "--target", "api", "--json")[1])
    assert status[0]["live_version"] == "2" and status[0]["quarantined"] == []
    every = json.loads(run("deploy", "status", "--json")[1])  # every configured target
    assert [row["target"] for row in every] == ["api", "web"]
    code, out = run("deploy", "rollback", "--target", "api", "--dry-run")
    assert code == 0 and "dry_run" in out
    # The incident's whole story: the pages its transitions sent, what the automation decided.
    story = json.loads(run("incident", "show", "INC-2026-001", "--json")[1])
    assert [(p["subject"], bool(p["sent_at"])) for p in story["pages"]] == [
        ("[P1] INC-2026-001 Opened: financeanalyst-pro-demo-error-rate", True),
        ("[P1] INC-2026-001 Resolved: financeanalyst-pro-demo-error-rate", True)]
    assert [(d["action"], d["result"], d["decided_by"]) for d in story["decisions"]] == [
        ("rollback", "executed", "automation")]
    text = run("incident", "show", "INC-2026-001")[1]
    assert "pages:" in text and "decisions:" in text and "rollback executed (automation)" in text


def test_maintenance_window_holds_back_pauses_and_rechecks(tmp_path) -> None:
    report = replay_example(tmp_path, "maintenance-window.jsonl")
    assert report["events"] == {"received": 10, "processed": 9, "duplicates": 1, "rejected": 0}
    # Held back: the storage P2 inside the database window, the traffic P1 inside the emergency window.
    assert [(s["incident"], s["severity"], s["window"]) for s in report["suppressed_notifications"]] == [
        ("INC-2026-001", "P2", "database-maintenance-20261125-1400"), ("INC-2026-003", "P1", "adhoc-20261125-220000")]
    subjects = [(n["severity"], n["subject"]) for n in report["notifications"] if n["severity"] != "P3"]
    assert subjects == [
        ("P0", "[P0] INC-2026-002 Opened: financeanalyst-pro-demo-db-data-loss"),  # P0 pages inside the window
        # Nobody acknowledged it within 15 minutes: PagerDuty (P0's owner) escalates it, not us.
        ("P0", "[P0] INC-2026-002 Resolved: financeanalyst-pro-demo-db-data-loss"),
        ("P2", "[P2] INC-2026-001 Still firing after maintenance: financeanalyst-pro-demo-storage"),  # re-check
        ("P2", "[P2] INC-2026-001 Resolved: financeanalyst-pro-demo-storage"),
        ("P1", "[P1] INC-2026-003 Still firing after maintenance: financeanalyst-pro-demo-traffic-spike"),
        ("P1", "[P1] INC-2026-003 Resolved: financeanalyst-pro-demo-traffic-spike"),
    ]
    # No automated action inside the window: the WAF block was decided and skipped.
    [block] = [a for a in report["actions"] if a["type"] == "waf.block"]
    assert block["result"] == "skipped" and "maintenance window adhoc-20261125-220000" in block["reason"]
    assert [(a["type"], a["result"]) for a in report["actions"] if a["type"].startswith("maintenance")] == [
        ("maintenance.open", "executed"), ("maintenance.close", "executed"),
        ("maintenance.open", "executed"), ("maintenance.close", "executed")]


def test_stale_backup_opens_a_p1_and_a_fresh_point_resolves_it(tmp_path) -> None:
    report = replay_example(tmp_path, "stale-backup.jsonl")
    assert report["events"] == {"received": 9, "processed": 9, "duplicates": 0, "rejected": 0}
    orders = "dynamodb-table-financeanalyst-pro-demo-orders"
    assert [(i["id"], i["severity"], i["status"], i["alarm"], i["opened_at"], i["resolved_at"]) for i in report["incidents"]] == [
        ("INC-2026-001", "P2", "RESOLVED", f"financeanalyst-pro-demo-backup-job-{orders}",  # the failed job
         "2026-11-24T18:02:00.000Z", "2026-11-24T21:33:00.000Z"),
        ("INC-2026-002", "P1", "RESOLVED", f"financeanalyst-pro-demo-backup-freshness-{orders}",  # 7 h 15 min > 7 h
         "2026-11-24T19:15:00.000Z", "2026-11-24T21:33:00.000Z")]
    opened = [n["subject"] for n in report["notifications"] if "Opened" in n["subject"]]
    assert [s[:25] for s in opened] == ["[P2] INC-2026-001 Opened:", "[P1] INC-2026-002 Opened:"]  # one page each


def test_calendar_report_status_and_backup_commands_on_the_replay_state(tmp_path, capsys) -> None:
    state = tmp_path / "state.json"
    replay_example(tmp_path, "stale-backup.jsonl")
    capsys.readouterr()

    def run(*argv: str) -> tuple[int, str]:
        code = main([*argv, "--state", str(state)])
        return code, capsys.readouterr().out

    code, out = run("report", "daily", "--date", "2026-11-24")
    assert code == 0 and "- Opened: 2 (P0: 0, P1: 1, P2: 1, P3: 0)" in out
    assert "- MTTR (time to resolve): 2 h 54 min" in out  # (211 + 138) / 2 minutes
    code, out = run("incident", "report", "INC-2026-002")
    assert code == 0 and "**Severity:** P1" in out and "escalated" in out
    code, out = run("backup", "list")
    assert code == 1 and out.count("STALE") == 2  # "now" is days after the replayed backups
    code, out = run("maintenance", "enable", "--message", "Emergency maintenance in progress", "--for", "30m",
                    "--component", "Web Application", "--by", "alice")
    assert code == 0 and "maintenance.open executed" in out
    assert "OPEN adhoc-" in run("maintenance", "status")[1]
    assert json.loads(run("status", "--json")[1])["status"] == "Maintenance"
    assert run("maintenance", "extend", "--for", "1h", "--by", "alice")[0] == 0
    assert run("maintenance", "disable", "--by", "alice")[0] == 0
    assert run("maintenance", "disable", "--by", "alice")[0] == 2  # none open: says so
    code, out = main(["calendar", "--days", "8"]), capsys.readouterr().out
    assert code == 0 and "database-maintenance (window, 120 min)" in out and "morning-checklist" in out


def test_the_replay_takes_cloudwatch_for_the_truth(config) -> None:
    """The authentic ALARM (EventBridge, only AWS can put it) and a contradicting SNS "OK" claim: the
    incident stays open, as in AWS. An alarm heard of only through SNS takes its state from that."""
    import io

    from factories import eventbridge_alarm, sns_alarm

    t0 = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
    spike, errors = config.alarm("traffic-spike"), config.alarm("error-rate")
    lines = [eventbridge_alarm(spike.name, "ALARM", t0, value=300_000, description=spike.tagged_description),
             sns_alarm(spike.name, "OK", t0 + timedelta(minutes=2), previous="ALARM"),
             sns_alarm(errors.name, "ALARM", t0 + timedelta(minutes=3), description=errors.tagged_description)]
    report = Replay(config, traffic_history=False, out=io.StringIO()).run(iter(json.dumps(e) for e in lines)).as_dict()
    assert report["events"]["rejected"] == 1 and "CloudWatch says" in report["rejections"][0]["reason"]
    assert {(i["alarm"], i["status"]) for i in report["incidents"]} == {(spike.name, "OPEN"), (errors.name, "OPEN")}


def test_a_reader_that_goes_away_ends_the_output_quietly(replayed) -> None:
    """`opsctl report weekly | head`: the reader closes the pipe; no traceback, the SIGPIPE exit code."""
    import subprocess
    import sys

    state = replayed("incident-day")
    process = subprocess.Popen([str(Path(sys.executable).parent / "opsctl"), "report", "weekly", "--date",
                                "2026-11-26", "--state", str(state)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    process.stdout.close()  # the reader has gone before opsctl writes
    _, errors = process.communicate(timeout=300)
    assert process.returncode == 141 and errors.decode() == ""


def test_incident_list_shows_what_is_burning_by_default(tmp_path, capsys, config) -> None:
    """Open and acknowledged by default, newest first, with age and owner; --all, --severity, --since
    for the rest."""
    at = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
    # Minutes apart, so that each is an incident of its own (not a storm of one component).
    lines = [eventbridge_alarm(config.alarm("error-rate").name, "ALARM", at),
             eventbridge_alarm(config.alarm("storage").name, "ALARM", at + timedelta(minutes=3), value=95),
             eventbridge_alarm(config.alarm("response-time").name, "ALARM", at + timedelta(minutes=6)),
             eventbridge_alarm(config.alarm("response-time").name, "OK", at + timedelta(minutes=9), previous="ALARM")]
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(line) + "\n" for line in lines))
    state = tmp_path / "state.json"
    assert main(["replay", str(events), "--report", str(tmp_path / "r.json"), "--state", str(state)]) == 0
    assert main(["incident", "ack", "INC-2026-002", "--by", "alice", "--state", str(state)]) == 0
    capsys.readouterr()

    def listed(*options: str) -> list[tuple[str, str]]:
        assert main(["incident", "list", *options, "--json", "--state", str(state)]) == 0
        return [(i["id"], i["status"]) for i in json.loads(capsys.readouterr().out)]

    assert listed() == [("INC-2026-002", "ACKNOWLEDGED"), ("INC-2026-001", "OPEN")]
    assert listed("--all") == [("INC-2026-003", "RESOLVED"), ("INC-2026-002", "ACKNOWLEDGED"), ("INC-2026-001", "OPEN")]
    assert listed("--all", "--severity", "P2") == [("INC-2026-003", "RESOLVED"), ("INC-2026-001", "OPEN")]
    assert listed("--since", "1h") == []  # opened days before now
    assert main(["incident", "list", "--state", str(state)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["ID", "SEV", "STATUS", "AGE", "OWNER", "OPENED(UTC)", "ALARM"]
    assert table[1].split()[:2] == ["INC-2026-002", "P1"] and "alice" in table[1].split()
    # Re-graded by hand: paged once at its new severity (the escalation follows the new deadlines).
    assert main(["incident", "severity", "INC-2026-001", "P1", "--reason", "checkout fails", "--by", "bob",
                 "--state", str(state)]) == 0
    assert capsys.readouterr().out.startswith("INC-2026-001 re-graded P2 → P1 by bob (acknowledge by ")
    assert listed("--severity", "P1") == [("INC-2026-002", "ACKNOWLEDGED"), ("INC-2026-001", "OPEN")]
    # Closed by hand (its alarm never came back to OK): it leaves what is burning.
    assert main(["incident", "resolve", "INC-2026-001", "--reason", "fixed by hand", "--by", "bob",
                 "--state", str(state)]) == 0
    assert capsys.readouterr().out.startswith("INC-2026-001 RESOLVED by bob (alarm financeanalyst-pro-demo-error-rate")
    assert listed() == [("INC-2026-002", "ACKNOWLEDGED")]


def test_note_and_assign_go_on_the_timeline_and_are_announced(replayed, capsys) -> None:
    state = replayed("incident-day")
    assert main(["incident", "note", "INC-2026-003", "failover done \x1b[31mwatching", "--by", "alice",
                 "--state", str(state)]) == 0
    assert main(["incident", "assign", "INC-2026-003", "--to", "bob", "--by", "alice", "--state", str(state)]) == 0
    capsys.readouterr()
    assert main(["incident", "show", "INC-2026-003", "--json", "--state", str(state)]) == 0
    incident = json.loads(capsys.readouterr().out)
    assert incident["assigned_to"] == "bob"
    assert [(e["event"], e["by"], e.get("reason") or e.get("to")) for e in incident["timeline"][-2:]] == [
        ("note", "human:alice", "failover done watching"), ("assigned", "human:alice", "bob")]
    # Announced like any transition: an OUTBOX item the ledger stream hands to the relay.
    events = [item["event"]["M"] for item in json.loads(state.read_text())["ledger"]
              if item["pk"]["S"] == "OUTBOX" and "event" in item]
    updates = [detail for detail in (json.loads(e["Detail"]["S"]) for e in events if e["DetailType"]["S"] == "Incident Updated")
               if "update" in detail]
    assert [(u["incident_id"], u["update"], u["actionable"]) for u in updates] == [
        ("INC-2026-003", "note", False), ("INC-2026-003", "assigned", False)]
    assert main(["incident", "note", "INC-2026-404", "x", "--state", str(state)]) == 2


def test_an_incident_a_human_declares_is_listed_shown_and_announced(replayed, capsys) -> None:
    state = replayed("incident-day")
    capsys.readouterr()
    assert main(["incident", "declare", "--severity", "P1", "--component", "Web Application", "--summary",
                 "logins fail \x1b[31mfor EU customers", "--by", "alice", "--state", str(state)]) == 0
    said = capsys.readouterr().out
    assert said.startswith("INC-2026-006 declared by alice: [P1] Web Application: logins fail for EU customers")
    assert main(["incident", "list", "--json", "--state", str(state)]) == 0
    [declared] = json.loads(capsys.readouterr().out)
    assert (declared["id"], declared["status"], declared["classified_by"]) == ("INC-2026-006", "OPEN", "human:alice")
    # Announced and paged through the outbox, as an alarm's incident is.
    outbox = [item for item in json.loads(state.read_text())["ledger"] if item["pk"]["S"] == "OUTBOX"
              and "INC-2026-006" in json.dumps(item)]
    [opened] = [item for item in outbox if item["event"]["M"]["DetailType"]["S"] == "Incident Opened"]
    assert opened["notification"]["M"]["severity"]["S"] == "P1"
    with pytest.raises(SystemExit) as refused:  # argparse names the choices
        main(["incident", "declare", "--severity", "P9", "--component", "x", "--summary", "y", "--state", str(state)])
    assert refused.value.code == 2


def test_analyze_drafts_the_post_mortem_from_the_record(replayed, capsys) -> None:
    """INC-2026-001 of the demo day, worked by hand: a P2 error rate (09:14) that resolved at 09:31 and
    flapped twice after (ALARM 09:35 at 12.4 %, upgraded to P1; OK 09:41; ALARM 09:44; OK 09:52),
    never acknowledged (each time it ended before its deadline): one incident of 38 minutes, its
    damped pages on the timeline, and the flapping among the open questions."""
    state = replayed("incident-day")
    capsys.readouterr()
    assert main(["incident", "analyze", "INC-2026-001", "--json", "--state", str(state)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["kept_at"] == "s3://financeanalyst-pro-demo-reports/postmortems/INC-2026-001.md"
    draft = result["draft"].splitlines()
    header = dict(line[2:].split(":** ", 1) for line in draft if line.startswith("**"))
    assert header == {
        "Incident ID": "INC-2026-001", "Severity": "P1", "Status": "Resolved", "Start Time": "2026-11-26 09:14 UTC",
        "End Time": "2026-11-26 09:52 UTC", "Affected Systems": "Web Application",
        "Impact": '"Some requests fail with server errors"',
        "Detected by": '"financeanalyst-pro-demo-error-rate" (classified by alarm-tag)',
        "Acknowledged after": "n/a (target 1 h 00 min, ended before it was due)",
        "Resolved after": "38 min (target 8 h 00 min, met)"}
    timeline = draft[draft.index("## Timeline (UTC)") + 1:draft.index("## What the automation did") - 1]
    assert [(line[13:21], line[22:].split(":")[0].split(" ")[0]) for line in timeline] == [
        ("09:14:03", "opened"), ("09:14:04", "page"), ("09:31:10", "resolved"), ("09:31:11", "page"),
        ("09:35:00", "reopened"), ("09:35:01", "automation"), ("09:35:01", "page"), ("09:41:00", "resolved"),
        ("09:41:01", "resolution-deferred"), ("09:44:00", "reopened"), ("09:44:01", "automation"),
        ("09:44:01", "notification-damped"), ("09:52:00", "resolved"),
        ("09:52:01", "resolution-deferred"), ("10:22:01", "page"), ("10:22:01", "resolution-paged")]
    assert timeline[5] == '- 2026-11-26 09:35:01 automation: rollback api skipped ("no deployment of api is known")'
    assert timeline[6].endswith("sent 2026-11-26 09:35")
    done = draft[draft.index("## What the automation did") + 1:draft.index("## Metrics around the incident") - 1]
    assert done == ['- rollback on api: skip → skipped, by automation — "no deployment of api is known"'] * 2
    questions = draft[draft.index("## Open questions") + 1:draft.index("## Action items") - 1]
    assert questions == ["- What was the root cause, and what will stop it happening again?",
                         "- It flapped: reopened 2 time(s) within minutes of resolving (its pages damped). Is the "
                         "threshold too tight, or the cause unstable?",
                         '- The automation did not act (rollback on api: "no deployment of api is known"): was that '
                         'right?']


def test_notify_stakeholders_pages_the_report_to_a_severity_s_contacts(replayed, capsys) -> None:
    state = replayed("incident-day")
    capsys.readouterr()
    assert main(["notify", "stakeholders", "--incident", "INC-2026-004", "--severity", "critical", "--message",
                 "payments retried by hand", "--by", "alice", "--state", str(state)]) == 0
    assert capsys.readouterr().out == "INC-2026-004: stakeholders (P0 contacts) notified by alice\n"
    ledger = json.loads(state.read_text())["ledger"]
    [item] = [i for i in ledger if i["pk"]["S"] == "OUTBOX" and i["sk"]["S"].split("#", 1)[1].startswith("stakeholders|")]
    page = item["notification"]["M"]
    assert (page["severity"]["S"], page["attributes"]["M"]["kind"]["S"]) == ("P0", "stakeholders")
    # Relayed as the ledger's stream would on AWS: paged and announced, even on replay state.
    assert {"page_sent_at", "event_sent_at"} <= set(item)
    message = page["message"]["S"]
    assert message.startswith("## Incident Report") and "**Incident ID:** INC-2026-004" in message
    assert message.endswith("### From alice\npayments retried by hand")
    detail = json.loads(item["event"]["M"]["Detail"]["S"])
    assert (detail["update"], detail["actionable"]) == ("stakeholders-notified", False)
    [incident] = [i for i in ledger if i["pk"]["S"] == "INCIDENT#INC-2026-004" and i["sk"]["S"] == "META"]
    assert incident["timeline"]["L"][-1]["M"]["event"]["S"] == "stakeholders-notified"
    with pytest.raises(SystemExit):
        main(["notify", "stakeholders", "--incident", "INC-2026-004", "--severity", "urgent", "--state", str(state)])


def test_metrics_on_replay_state_name_the_alarms_asked_for(replayed, capsys) -> None:
    state = replayed("incident-day")
    capsys.readouterr()
    assert main(["metrics", "--timeframe", "30m", "--alarm", "error-rate", "--json", "--state", str(state)]) == 0
    [series] = json.loads(capsys.readouterr().out)
    assert (series["alarm"], series["threshold"], series["points"]) == ("financeanalyst-pro-demo-error-rate", 5.0, [])


def test_investigate_gathers_the_alarm_s_history_and_the_deployments_before_it(replayed, capsys) -> None:
    """After the bad deploy: INC-2026-001's context shows api 2 deployed six minutes before the alarm
    (quarantined by the rollback since) and api 1 that morning; its alarm's changes come from the
    ledger here (the emulator keeps no alarm history; a real account's comes from CloudWatch)."""
    state = replayed("bad-deploy")
    capsys.readouterr()
    assert main(["investigate", "INC-2026-001", "--json", "--state", str(state)]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [(d["target"], d["version"], d["status"], d["deployed_at"][:16]) for d in found["deployments"]] == [
        ("api", "2", "quarantined", "2026-11-24T15:00"), ("api", "1", "live", "2026-11-24T10:00")]
    assert [(c["at"][:16], c["summary"]) for c in found["alarm_history"]] == [
        ("2026-11-24T15:12", "OK (INC-2026-001 resolved)"), ("2026-11-24T15:06", "ALARM (INC-2026-001 opened)")]
    assert found["metric"]["label"] == "AWS/CloudFront 5xxErrorRate (Average, 60 s)"
    assert found["top_errors"] == {"status": "Complete", "errors": []}  # the demo application logged nothing


def test_on_a_real_account_the_alarm_history_is_cloudwatch_s() -> None:
    import boto3
    from botocore.stub import Stubber

    from opsctl.investigate import alarm_history

    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    since, now = datetime(2026, 11, 24, 9, tzinfo=timezone.utc), datetime(2026, 11, 24, 16, tzinfo=timezone.utc)
    with Stubber(cloudwatch) as stub:
        stub.add_response("describe_alarm_history", {"AlarmHistoryItems": [{
            "AlarmName": "a", "Timestamp": datetime(2026, 11, 24, 15, 6, tzinfo=timezone.utc),
            "HistoryItemType": "StateUpdate", "HistorySummary": "Alarm updated from OK to ALARM\x1b[31m"}]},
            {"AlarmName": "a", "HistoryItemType": "StateUpdate", "StartDate": since, "EndDate": now,
             "ScanBy": "TimestampDescending", "MaxRecords": 20})
        assert alarm_history(cloudwatch, None, "a", since, now, emulated=False) == [
            {"at": "2026-11-24T15:06:00.000Z", "summary": "Alarm updated from OK to ALARM"}]


def test_logs_search_ranks_the_application_s_errors(tmp_path) -> None:
    """The Logs Insights query over the configured groups, its answer as AWS shapes it (a `stats`
    query answers with the grouped fields; the emulator does not evaluate queries, so Stubber)."""
    import boto3
    from botocore.stub import ANY, Stubber

    from controlplane.logs_insights import TOP_ERRORS, top_errors

    logs = boto3.client("logs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    start, end = datetime(2026, 11, 24, 14, 51, tzinfo=timezone.utc), datetime(2026, 11, 24, 15, 12, tzinfo=timezone.utc)
    waits: list[float] = []
    with Stubber(logs) as stub:
        stub.add_response("start_query", {"queryId": "q-1"}, {
            "logGroupNames": ["/app"], "startTime": int(start.timestamp()), "endTime": int(end.timestamp()),
            "queryString": TOP_ERRORS.format(limit=10)})
        stub.add_response("get_query_results", {"status": "Running", "results": []}, {"queryId": "q-1"})
        stub.add_response("get_query_results", {"status": "Complete", "results": [
            [{"field": "@message", "value": "ERROR upstream timed out\x1b[2J"}, {"field": "occurrences", "value": "41"}],
            [{"field": "@message", "value": "Exception: KeyError 'user'"}, {"field": "occurrences", "value": "3"}]]},
            {"queryId": ANY})
        found = top_errors(logs, ("/app",), start, end, sleep=waits.append)
    assert found == {"status": "Complete", "errors": [{"message": "ERROR upstream timed out", "occurrences": 41},
                                                      {"message": "Exception: KeyError 'user'", "occurrences": 3}]}
    assert waits == [1]
    with Stubber(logs) as stub:
        stub.add_client_error("start_query", "ResourceNotFoundException", "The specified log group does not exist.")
        missing = top_errors(logs, ("/app",), start, end, sleep=waits.append)
    assert missing["errors"] == [] and "ResourceNotFoundException" in missing["status"]
    assert top_errors(logs, (), start, end, sleep=waits.append)["status"].startswith("no log groups configured")


def test_tables_fit_a_100_column_terminal(replayed, capsys) -> None:
    """The list views of the demo day, and an incident whose alarm name is long and carries control
    characters: every line fits 100 columns, the rest clipped with "…", nothing raw reaches the terminal."""
    from opsctl.formatting import incident_table

    state = replayed("incident-day")
    capsys.readouterr()
    for command in (["incident", "list", "--all"], ["decisions", "list"], ["metrics", "--timeframe", "1h"]):
        assert main([*command, "--state", str(state)]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines and max(map(len, lines)) <= 100, command
    noisy = {"id": "INC-2026-099", "severity": "P2", "status": "OPEN", "opened_at": "2026-11-26T09:14:03.000Z",
             "alarm_name": "team-x\x1b[31m-" + "very-long-alarm-name-" * 5, "acknowledged_by": "alice\nbob"}
    [_, row] = incident_table([noisy], datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc), resolved_too=False).splitlines()
    assert len(row) == 100 and row.endswith("…") and "\x1b" not in row and "alice bob" in row


def test_security_findings_health_and_drift_are_the_runbooks_categories(tmp_path) -> None:
    """examples/security-and-drift.jsonl: each source AWS puts on the default bus, as a user replays it."""
    report = replay_example(tmp_path, "security-and-drift.jsonl")
    assert report["events"] == {"received": 8, "processed": 8, "duplicates": 0, "rejected": 0}
    assert [(i["severity"], i["status"], i["alarm"].split(" ")[0]) for i in report["incidents"]] == [
        ("P0", "OPEN", "GuardDuty"),  # Security Breach: PagerDuty has it (its escalation, not ours)
        ("P1", "OPEN", "Security"),  # Security Hub HIGH, NEW: Security Threat
        ("P1", "RESOLVED", "AWS"),  # AWS Health: an issue with CloudFront, which the demo's alarms watch
        ("P2", "RESOLVED", "drift"),  # Configuration Drift of our stack, in sync again two hours later
        ("P3", "OPEN", "AWS"),  # AWS Health: RDS maintenance scheduled for tomorrow 08:00–10:00 UTC
    ]
    # The end-of-day checklist (one P3 summary) puts it on tomorrow's calendar, among the runbook's tasks.
    assert [n["subject"] for n in report["notifications"] if "Checklist" in n["subject"]] == [
        "[P3] End of Day Checklist (6:00 PM)"]
    ledger = [from_item(item) for item in json.loads((tmp_path / "state.json").read_text())["ledger"]]
    [checklist] = [item for item in ledger if item["pk"] == "CHECKLIST#end-of-day"]
    assert "Fri 03:00 EST AWS scheduled change to RDS until 2026-11-27T10:00 UTC (INC-2026-005)" in \
        checklist["facts"]["next_24_hours"]
    escalations = [n["subject"] for n in report["notifications"] if n["subject"].startswith("[P0] ESCALATION")
                   and "INC-2026-001" in n["subject"]]
    assert escalations == ["[P0] ESCALATION L1: INC-2026-001 still OPEN past its resolution target (240 min)"]
