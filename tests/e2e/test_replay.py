"""`opsctl replay` end to end on the example files and on a duplicate storm."""

import json
from datetime import datetime, timedelta, timezone

from factories import eventbridge_alarm, sns_alarm
from opsctl.main import main
from opsctl.replay import Replay
from paths import ROOT


def test_incident_day_report(tmp_path, capsys) -> None:
    report_path = tmp_path / "report.json"
    state = tmp_path / "ledger.json"
    code = main(["replay", str(ROOT / "examples" / "incident-day.jsonl"), "--report", str(report_path),
                 "--state", str(state)])
    assert code == 0
    report = json.loads(report_path.read_text())
    assert report["events"] == {"received": 21, "processed": 15, "duplicates": 3, "rejected": 3}
    assert [(i["id"], i["severity"], i["status"], i["alarm"]) for i in report["incidents"]] == [
        ("INC-2026-001", "P2", "RESOLVED", "financeanalyst-pro-demo-error-rate"),
        ("INC-2026-002", "P1", "RESOLVED", "financeanalyst-pro-demo-error-rate"),
        ("INC-2026-003", "P2", "RESOLVED", "financeanalyst-pro-demo-error-rate"),
        ("INC-2026-004", "P2", "RESOLVED", "payments-api-lambda-errors"),
        ("INC-2026-005", "P0", "RESOLVED", "financeanalyst-pro-demo-health"),
        ("INC-2026-006", "P2", "RESOLVED", "financeanalyst-pro-demo-response-time"),
        ("INC-2026-007", "P0", "RESOLVED", "checkout-outage-composite"),
    ]
    assert report["incidents"][0]["opened_at"] == "2026-11-26T09:14:03.000Z"
    assert report["incidents"][0]["resolved_at"] == "2026-11-26T09:31:10.000Z"
    # 7 openings + 7 resolutions + 1 blind spot; P0 pages went to the P0 topic.
    assert len(report["notifications"]) == 15
    assert {n["severity"] for n in report["notifications"] if n["incident"] == "INC-2026-005"} == {"P0"}
    assert [n["subject"] for n in report["notifications"] if n["severity"] == "P3"] == [
        "[P3] Blind spot: financeanalyst-pro-demo-storage has INSUFFICIENT_DATA"]
    assert report["actions"] == []

    timeline = capsys.readouterr().out
    assert "2026-11-26 09:14:04Z  opened     financeanalyst-pro-demo-error-rate  INC-2026-001 (P2)" in timeline
    assert "(late delivery: no remediation)" in timeline
    assert f"report: {report_path}" in timeline

    # The replay's state is what `opsctl incident` reads afterwards.
    assert main(["incident", "ack", "INC-2026-005", "--by", "alice", "--state", str(state)]) == 0
    assert main(["incident", "list", "--status", "ACKNOWLEDGED", "--json", "--state", str(state)]) == 0
    listed = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert listed == []  # INC-2026-005 was already resolved: acknowledging it changes nothing
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
    report = Replay(config, out=open("/dev/null", "w")).run(iter(lines)).as_dict()
    assert report["events"] == {"received": 1000, "processed": 1, "duplicates": 999, "rejected": 0}
    assert len(report["incidents"]) == 1 and report["incidents"][0]["severity"] == "P0"
    assert len(report["notifications"]) == 1


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
