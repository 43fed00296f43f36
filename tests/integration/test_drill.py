"""The fire drill through the emulated pipeline: SetAlarmState on the drill alarm is delivered as
CloudWatch's state-change event, triage opens a P3, the relay sends event and page, the drill times
each hop and sets the alarm back. A scheduled drill that fails pages P1 directly."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone
from typing import Any

import pytest
from botocore.exceptions import ClientError

from controlplane.errors import MalformedEvent
from opsctl.main import main
from opsctl.replay import Replay
from opsctl.world import LocalWorld, drain
from paths import ROOT

T0 = datetime(2026, 12, 1, 15, 0, 0, 123000, tzinfo=timezone.utc)  # a Tuesday, 10:00 in New York
DRILL_ALARM = "financeanalyst-pro-demo-fire-drill"
HOPS = ["alarm → ledger", "ledger → bus", "bus → page", "OK → resolved", "resolved → page"]


@pytest.fixture
def replay(world: LocalWorld, config) -> Replay:
    replay = Replay(config, out=io.StringIO())
    replay.attach(world, T0)
    return replay


def scheduled(replay: Replay, at: str = "2026-12-01T15:00:00Z") -> dict[str, Any]:
    result = replay.invoke("drill", {"task": "drill", "at": at})["drill"]
    replay.collect_side_effects()  # what it sent after its last wait (a failure's P1 page)
    return dict(result)


def alarm_state(world: LocalWorld) -> str:
    return world.client("cloudwatch").describe_alarms(AlarmNames=[DRILL_ALARM])["MetricAlarms"][0]["StateValue"]


def pages(replay: Replay, severity: str) -> list[str]:
    """The subjects of what went to a severity's topic (the replay collects them as the drill runs)."""
    return [n["subject"] for n in replay.report.notifications if n["severity"] == severity]


def test_a_drill_times_every_hop_and_leaves_a_resolved_p3(world, replay, harness) -> None:
    result = scheduled(replay)
    assert (result["outcome"], result["reason"]) == ("passed", "every hop within the drill's time limit")
    assert [hop["hop"] for hop in result["hops"]] == HOPS
    # The emulated CloudWatch emits a second after SetAlarmState; the relay sends as it commits.
    assert [hop["seconds"] for hop in result["hops"]] == [0.877, 0.0, 0.0, 0.877, 0.0]
    replay.collect_incidents()
    [opened] = replay.report.incidents
    assert (opened["id"], opened["severity"], opened["status"], opened["alarm"]) == (
        result["incident"], "P3", "RESOLVED", DRILL_ALARM)
    assert pages(replay, "P3") == [f"[P3] {result['incident']} Opened: {DRILL_ALARM}",
                        f"[P3] {result['incident']} Resolved: {DRILL_ALARM}"]
    assert pages(replay, "P1") == [] and alarm_state(world) == "OK"
    [record] = harness.ledger_items("DRILL")
    assert (record["sk"], record["outcome"], record["incident"]) == ("2026-12-01T15:00:00.000Z", "passed",
                                                                     result["incident"])


def test_a_retried_schedule_does_not_drill_twice(world, replay) -> None:
    first = scheduled(replay)
    again = scheduled(replay)
    assert (again["outcome"], again["reason"]) == ("skipped", "the drill of 2026-12-01T15:00:00.000Z has run already")
    replay.collect_incidents()
    assert [i["id"] for i in replay.report.incidents] == [first["incident"]]


def test_a_broken_relay_fails_the_drill_pages_p1_directly_and_sets_the_alarm_back(world, replay, monkeypatch) -> None:
    relay_sns = world.dependencies("outbox_relay", replay.clock).client("sns")
    real_publish = relay_sns.publish

    def p3_topic_gone(**kwargs):
        if kwargs["TopicArn"].endswith("-notify-p3"):
            raise ClientError({"Error": {"Code": "NotFound", "Message": "Topic does not exist"}}, "Publish")
        return real_publish(**kwargs)

    monkeypatch.setattr(relay_sns, "publish", p3_topic_gone)
    result = scheduled(replay)
    assert result["outcome"] == "failed"
    assert result["reason"] == f"the page of {result['incident']}'s opening was not sent in time"
    assert [hop["hop"] for hop in result["hops"]] == ["alarm → ledger", "ledger → bus"]
    assert pages(replay, "P1") == [f"[P1] Fire drill failed: {result['reason']}"]
    assert alarm_state(world) == "OK"
    # The relay's record was retried as the stream mapping does, then parked on its dead-letter queue.
    sqs = world.client("sqs")
    dead = sqs.get_queue_url(QueueName="financeanalyst-pro-demo-outbox-relay-dlq")["QueueUrl"]
    [parked] = drain(sqs, dead)
    assert parked["requestContext"] == {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 11}


def test_a_human_drill_that_fails_reports_to_them_without_paging(world, replay, monkeypatch) -> None:
    monkeypatch.setattr(world.dependencies("outbox_relay", replay.clock).client("events"), "put_events",
                        lambda **_: {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure"}]})
    result = replay.invoke("drill", {"task": "drill", "by": "alice"})["drill"]
    assert (result["outcome"], result["started_by"]) == ("failed", "human:alice")
    assert result["reason"] == f"the ops-bus event of {result['incident']}'s opening was not sent in time"
    assert pages(replay, "P1") == []


def test_a_drill_inside_a_maintenance_window_is_inconclusive(world, replay) -> None:
    replay.invoke("calendar", {"task": "maintenance", "action": "enable", "message": "Patching", "minutes": 60,
                               "by": "alice"})
    replay.collect_side_effects()
    replay.report.notifications.clear()  # the window's own announcement
    result = scheduled(replay)
    assert result["outcome"] == "held back"
    assert result["reason"].startswith("the P3 page was held back (maintenance window ")
    assert pages(replay, "P3") == []
    assert pages(replay, "P1") == [] and alarm_state(world) == "OK"


def test_a_missing_drill_alarm_fails_and_pages(world, replay) -> None:
    world.client("cloudwatch").delete_alarms(AlarmNames=[DRILL_ALARM])
    result = scheduled(replay)
    assert (result["outcome"], result["reason"]) == ("failed", f"the drill alarm {DRILL_ALARM} does not exist")
    assert len(pages(replay, "P1")) == 1


def test_the_alarm_is_set_back_even_when_the_drill_dies(world, replay, harness, monkeypatch) -> None:
    dynamodb = world.dependencies("drill", replay.clock).client("dynamodb")

    def throttled(**_):
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "Query")

    monkeypatch.setattr(dynamodb, "query", throttled)
    with pytest.raises(ClientError):
        scheduled(replay)
    assert alarm_state(world) == "OK"
    [record] = harness.ledger_items("DRILL")
    assert (record["outcome"], record["reason"]) == ("failed", "the drill itself failed: ClientError: An error occurred "
                                                               "(ThrottlingException) when calling the Query operation: "
                                                               "Rate exceeded")


@pytest.mark.parametrize("task", [{"task": "drill"}, {"task": "drill", "at": "tuesday"}, {"task": "drills"}])
def test_a_malformed_task_is_refused(replay, task) -> None:
    with pytest.raises(MalformedEvent):
        replay.invoke("drill", task)


def test_opsctl_drill_on_the_replay_state(tmp_path, capsys) -> None:
    state = tmp_path / "state.json"
    assert main(["replay", str(ROOT / "examples" / "incident-day.jsonl"), "--report", str(tmp_path / "r.json"),
                 "--state", str(state)]) == 0
    capsys.readouterr()
    assert main(["drill", "--state", str(state), "--by", "alice"]) == 0
    out = capsys.readouterr().out
    assert "(human:alice): passed" in out and "resolved → page" in out
    # The drill's incident is in the state afterwards, resolved.
    assert main(["incident", "list", "--all", "--state", str(state), "--json"]) == 0
    [drilled] = [i for i in json.loads(capsys.readouterr().out) if i["alarm_name"] == DRILL_ALARM]
    assert drilled["status"] == "RESOLVED" and drilled["severity"] == "P3"



def test_a_service_works_on_the_repository_it_is_given(world, replay) -> None:
    """Services take their repositories from Dependencies, so an in-memory fake can stand in for the
    ledger: here a record of runs that has every drill on record already."""
    from controlplane.records import Runs
    from opsctl.lambda_host import function_module

    class EveryDrillRan:
        def __init__(self) -> None:
            self.asked: list[str] = []

        def claim_drill(self, occurrence: str, fields: dict[str, Any]) -> bool:
            self.asked.append(occurrence)
            return False

    deps = world.dependencies("drill", replay.clock)
    deps.repositories[Runs] = fake = EveryDrillRan()
    result = function_module("drill", "drill_service").FireDrill(deps).run(started_by="schedule",
                                                                           occurrence="2026-12-01T15:00:00Z")
    assert (result.outcome, fake.asked) == ("skipped", ["2026-12-01T15:00:00Z"])
    assert alarm_state(world) == "OK"  # nothing was set off
