"""The triage handler in-process under moto: ledger items, SNS messages (read through SQS
subscriptions) and ops-bus events (read through an SQS target)."""

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from botocore.exceptions import ClientError

from controlplane.clock import isoformat, parse_timestamp
from controlplane.errors import ConcurrentUpdate
from controlplane.ledger import IncidentLedger
from factories import eventbridge_alarm, sns_alarm

T0 = datetime(2026, 11, 26, 9, 14, 3, tzinfo=timezone.utc)


@pytest.fixture
def error_rate(config):
    spec = config.alarm("error-rate")

    def make(state, at, *, via="eventbridge", value=7.2, delivered_at=None, previous="OK"):
        build = eventbridge_alarm if via == "eventbridge" else sns_alarm
        return build(spec.name, state, at, value=value, description=spec.tagged_description,
                     namespace=spec.namespace, metric=spec.metric_name, dimensions=spec.dimensions,
                     delivered_at=delivered_at, previous=previous)

    return make


def test_alarm_opens_an_incident_notifies_and_publishes(harness, error_rate) -> None:
    outcomes = harness.triage(error_rate("ALARM", T0), at=T0 + timedelta(seconds=1))
    assert [o["result"] for o in outcomes] == ["opened"]

    [incident] = harness.incidents()
    assert incident["id"] == "INC-2026-001" and incident["severity"] == "P2" and incident["status"] == "OPEN"
    assert incident["alarm_name"] == "financeanalyst-pro-demo-error-rate"
    assert incident["opened_at"] == "2026-11-26T09:14:03.000Z" and incident["occurrences"] == 1
    assert incident["config_version"] == harness.world.policy["config_version"]
    assert [entry["event"] for entry in incident["timeline"]] == ["opened"]

    [page] = harness.notifications("P2")
    assert page["Subject"] == "[P2] INC-2026-001 Opened: financeanalyst-pro-demo-error-rate"
    assert "**Incident ID:** INC-2026-001" in page["Message"] and "**Status:** Investigating" in page["Message"]
    assert page["MessageAttributes"]["severity"]["Value"] == "P2"
    assert harness.all_notifications() == []  # nothing on the other severities

    [event] = harness.ops_events()
    assert event["detail-type"] == "Incident Opened" and event["source"] == "ops.control-plane"
    assert event["detail"]["incident_id"] == "INC-2026-001"
    assert event["detail"]["remediation"] == "check-application-logs" and event["detail"]["actionable"] is True


def test_both_paths_and_redeliveries_make_one_incident(harness, error_rate) -> None:
    deliveries = [error_rate("ALARM", T0), error_rate("ALARM", T0, via="sns"), error_rate("ALARM", T0)]
    results = [harness.triage(event, at=T0 + timedelta(seconds=i))[0]["result"] for i, event in enumerate(deliveries)]
    assert results == ["opened", "duplicate", "duplicate"]
    assert len(harness.incidents()) == 1
    assert len(harness.all_notifications()) == 1 and len(harness.ops_events()) == 1


def test_ok_resolves_and_a_later_alarm_opens_a_new_incident(harness, error_rate) -> None:
    harness.triage(error_rate("ALARM", T0), at=T0)
    resolved = harness.triage(error_rate("OK", T0 + timedelta(minutes=17), previous="ALARM"),
                              at=T0 + timedelta(minutes=17))
    assert resolved[0]["result"] == "resolved"
    # Past noise.reopen_minutes (30) after the OK: a new incident, not the old one reopened (flapping).
    again = harness.triage(error_rate("ALARM", T0 + timedelta(minutes=48), value=12.0),
                           at=T0 + timedelta(minutes=48))
    assert again[0]["result"] == "opened" and again[0]["incident"] == "INC-2026-002"

    first, second = harness.incidents()
    assert first["status"] == "RESOLVED" and first["time_to_resolve_seconds"] == 17 * 60
    assert first["resolved_at"] == "2026-11-26T09:31:03.000Z"
    assert second["severity"] == "P1" and second["previous_incident"] == "INC-2026-001"
    subjects = [n["Subject"] for n in harness.all_notifications()]
    assert sorted(subjects) == sorted([
        "[P2] INC-2026-001 Opened: financeanalyst-pro-demo-error-rate",
        "[P2] INC-2026-001 Resolved: financeanalyst-pro-demo-error-rate",
        "[P1] INC-2026-002 Opened: financeanalyst-pro-demo-error-rate",
    ])
    assert [e["detail-type"] for e in harness.ops_events()] == ["Incident Opened", "Incident Resolved",
                                                                "Incident Opened"]


def test_repeat_of_an_open_incident_updates_it_without_paging(harness, error_rate) -> None:
    harness.triage(error_rate("ALARM", T0), at=T0)
    harness.triage(error_rate("INSUFFICIENT_DATA", T0 + timedelta(minutes=5), value=None),
                   at=T0 + timedelta(minutes=5))
    later = T0 + timedelta(minutes=9)
    assert harness.triage(error_rate("ALARM", later), at=later)[0]["result"] == "updated"

    [incident] = harness.incidents()
    assert incident["occurrences"] == 2 and incident["last_seen_at"] == "2026-11-26T09:23:03.000Z"
    assert [e["event"] for e in incident["timeline"]] == ["opened", "blind-spot", "re-triggered"]
    assert len(harness.notifications("P2")) == 1  # only the opening page
    assert [n["Subject"][:20] for n in harness.notifications("P3")] == ["[P3] Blind spot: fin"]
    assert [e["detail-type"] for e in harness.ops_events()] == ["Incident Opened", "Incident Updated"]


def test_insufficient_data_is_a_blind_spot_notice(harness, error_rate) -> None:
    outcome = harness.triage(error_rate("INSUFFICIENT_DATA", T0, value=None), at=T0)[0]
    assert outcome["result"] == "blind_spot" and outcome["notified"] == "P3"
    [notice] = harness.notifications("P3")
    assert "INSUFFICIENT_DATA" in notice["Subject"] and "unnoticed" in notice["Message"]
    assert harness.incidents() == [] and harness.ops_events() == []


def test_incident_numbers_roll_over_with_the_year(harness, error_rate) -> None:
    new_year = datetime(2027, 1, 1, 0, 30, 5, tzinfo=timezone.utc)  # past the reopen window of the OK at 23:55
    harness.triage(error_rate("ALARM", datetime(2026, 12, 31, 23, 50, tzinfo=timezone.utc)))
    harness.triage(error_rate("OK", datetime(2026, 12, 31, 23, 55, tzinfo=timezone.utc), previous="ALARM"))
    harness.triage(error_rate("ALARM", new_year), at=new_year)
    assert [i["id"] for i in harness.incidents()] == ["INC-2026-001", "INC-2027-001"]


def test_late_delivery_is_recorded_but_not_actionable(harness, error_rate) -> None:
    outcome = harness.triage(error_rate("ALARM", T0), at=T0 + timedelta(minutes=40))[0]
    assert outcome["result"] == "opened" and outcome["stale"] is True
    [event] = harness.ops_events()
    assert event["detail"]["actionable"] is False  # no remediation rule matches it
    assert "delivered late" in harness.notifications("P2")[0]["Message"]
    assert harness.incidents()[0]["timeline"][0]["delayed"] is True


def test_an_older_transition_arriving_late_changes_nothing(harness, error_rate) -> None:
    harness.triage(error_rate("ALARM", T0), at=T0)
    harness.triage(error_rate("OK", T0 + timedelta(minutes=5), previous="ALARM"), at=T0 + timedelta(minutes=5))
    stale_alarm = harness.triage(error_rate("ALARM", T0 + timedelta(minutes=2)), at=T0 + timedelta(minutes=6))
    assert stale_alarm[0]["result"] == "superseded"
    assert [i["status"] for i in harness.incidents()] == ["RESOLVED"]


def test_an_alarm_whose_ok_was_triaged_first_is_opened_and_resolved_not_lost(harness, error_rate) -> None:
    """ALARM and the OK that ended it delivered together, the OK committed first: it found nothing to
    resolve. The ALARM must still leave an incident (opened and resolved), paged once."""
    ended = T0 + timedelta(minutes=1)
    assert harness.triage(error_rate("OK", ended, previous="ALARM"), at=ended + timedelta(seconds=5))[0]["result"] \
        == "recorded"
    [outcome] = harness.triage(error_rate("ALARM", T0), at=ended + timedelta(seconds=5))
    assert (outcome["result"], outcome["reason"]) == ("opened", f"opened and resolved: its OK ({isoformat(ended)}) "
                                                                "arrived first")
    [incident] = harness.incidents()
    assert (incident["status"], incident["opened_at"], incident["resolved_at"], incident["time_to_resolve_seconds"]) \
        == ("RESOLVED", isoformat(T0), isoformat(ended), 60)
    assert [entry["event"] for entry in incident["timeline"]] == ["opened", "resolved"]
    [page] = harness.notifications("P2")
    assert page["Subject"] == f"[P2] {incident['id']} Opened and resolved: financeanalyst-pro-demo-error-rate"
    # Announced resolved: escalation arms nothing, no remediation starts on an outage that is over.
    assert [e["detail-type"] for e in harness.ops_events()] == ["Incident Resolved"]
    # Its redelivery, and the OK's, change nothing more.
    assert harness.triage(error_rate("ALARM", T0), at=ended + timedelta(minutes=1))[0]["result"] == "superseded"
    assert harness.triage(error_rate("OK", ended, previous="ALARM"), at=ended + timedelta(minutes=1))[0]["result"] \
        == "duplicate"
    assert len(harness.incidents()) == 1 and harness.all_notifications() == []
    # The next real outage opens a new incident as usual.
    assert harness.triage(error_rate("ALARM", T0 + timedelta(minutes=30)), at=T0 + timedelta(minutes=30))[0][
        "result"] == "opened"
    assert [i["status"] for i in harness.incidents()] == ["RESOLVED", "OPEN"]


def test_malformed_records_go_to_the_dead_letter_queue_and_others_proceed(harness, error_rate) -> None:
    good = error_rate("ALARM", T0, via="sns")["Records"][0]
    bad = json.loads(json.dumps(good))
    bad["Sns"]["Message"] = json.dumps({"NewStateValue": "ALARM"})  # no AlarmName
    outcomes = harness.triage({"Records": [bad, good]}, at=T0)
    assert [o["result"] for o in outcomes] == ["rejected", "opened"]
    [parked] = harness.dead_letters()
    assert parked["reason"] == "AlarmName is missing or not a non-empty string"
    assert parked["record"]["Sns"]["MessageId"] == bad["Sns"]["MessageId"]
    assert len(harness.incidents()) == 1


def test_a_failed_page_is_retried_by_the_relay_and_never_lost(harness, error_rate, monkeypatch) -> None:
    sns = harness.deps.client("sns")
    real_publish = sns.publish
    calls = []

    def flaky_publish(**kwargs):
        calls.append(kwargs["Subject"])
        if len(calls) == 1:
            raise ClientError({"Error": {"Code": "KMSThrottlingException", "Message": "slow down"}}, "Publish")
        return real_publish(**kwargs)

    monkeypatch.setattr(sns, "publish", flaky_publish)
    # Triage commits the transition with its outbox; the relay's first attempt fails on the page.
    assert harness.triage(error_rate("ALARM", T0), at=T0)[0]["result"] == "opened"
    assert harness.notifications("P2") == []
    # The stream redelivers the record (Lambda retries from the reported failure).
    assert harness.relay() == 1
    # Redeliveries of the alarm itself change nothing and send nothing.
    assert harness.triage(error_rate("ALARM", T0, via="sns"), at=T0 + timedelta(minutes=2))[0]["result"] == "duplicate"
    assert len(calls) == 2 and len(harness.notifications("P2")) == 1
    assert len(harness.incidents()) == 1
    # The event went out on both relay attempts: consumers deduplicate on transition_id.
    events = harness.ops_events()
    assert len(events) == 2 and len({e["detail"]["transition_id"] for e in events}) == 1


def test_a_redelivered_outbox_record_sends_only_what_was_not_sent(harness, error_rate, monkeypatch) -> None:
    assert harness.triage(error_rate("ALARM", T0), at=T0)[0]["result"] == "opened"
    [item] = harness.ledger_items("OUTBOX")
    assert item["event_sent_at"] == item["page_sent_at"] == isoformat(T0) and item["page_message_id"]
    harness.empty_queues()
    # The stream hands the record over again (the relay timed out after sending, say): the page is not
    # sent twice; the event is (consumers deduplicate on transition_id), and keeps its first send's mark.
    harness.world._relayed.clear()
    harness.clock.set(T0 + timedelta(minutes=1))
    assert harness.relay() == 1
    assert harness.all_notifications() == []
    assert [e["detail"]["transition_id"] for e in harness.ops_events()] == [item["transition_id"]]
    assert harness.ledger_items("OUTBOX")[0]["event_sent_at"] == isoformat(T0)

    # Lambda dies right after the page's Publish, before its mark: the retry pages again (a page twice
    # rather than never).
    ledger_client = harness.deps.client("dynamodb")
    real_update = ledger_client.update_item

    def die_before_the_page_mark(**kwargs):
        if "page_sent_at" in kwargs["ExpressionAttributeNames"].values():
            raise RuntimeError("Lambda runtime exited")
        return real_update(**kwargs)

    monkeypatch.setattr(ledger_client, "update_item", die_before_the_page_mark)
    assert harness.triage(error_rate("OK", T0 + timedelta(minutes=5)), at=T0 + timedelta(minutes=5))[0]["result"] == "resolved"
    monkeypatch.setattr(ledger_client, "update_item", real_update)
    assert harness.relay() == 1
    assert len(harness.notifications("P2")) == 2
    assert all("page_sent_at" in item for item in harness.ledger_items("OUTBOX"))


def test_a_page_whose_mark_is_throttled_is_not_sent_again(harness, error_rate, monkeypatch) -> None:
    """The page went out and only its mark failed: the record is not failed (its retry would page
    again for certain); the page carries its id, the transition, for consumers that deduplicate."""
    ledger_client = harness.deps.client("dynamodb")
    real_update = ledger_client.update_item

    def throttle_the_page_mark(**kwargs):
        if "page_sent_at" in kwargs["ExpressionAttributeNames"].values():
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "UpdateItem")
        return real_update(**kwargs)

    monkeypatch.setattr(ledger_client, "update_item", throttle_the_page_mark)
    assert harness.triage(error_rate("ALARM", T0), at=T0)[0]["result"] == "opened"
    monkeypatch.undo()
    assert harness.relay() == 0  # nothing failed, nothing to redeliver
    [page] = harness.notifications("P2")
    [item] = harness.ledger_items("OUTBOX")
    assert page["MessageAttributes"]["page_id"]["Value"] == item["transition_id"] and "page_sent_at" not in item


def test_relay_retries_from_the_first_failed_record_only(harness, config, monkeypatch) -> None:
    from opsctl import lambda_host

    events = harness.deps.client("events")
    real_put = events.put_events
    refused: list[Any] = []

    def put_events(**kwargs):
        if kwargs["Entries"][0]["Detail"].count("error-rate-2") and not refused:
            refused.append(1)
            return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure"}]}
        return real_put(**kwargs)

    monkeypatch.setattr(events, "put_events", put_events)
    spec = config.alarm("error-rate")
    for index in (1, 2, 3):  # minutes apart: three incidents paged on their own (no storm)
        at = T0 + timedelta(minutes=3 * index)
        harness.triage(eventbridge_alarm(f"{spec.name}-{index}", "ALARM", at, description=spec.tagged_description),
                       at=at, relay=False)
    first = harness.world.pump_outbox(lambda f, e: lambda_host.invoke(f, e, harness.deps))
    assert first == 1  # record 1 sent; record 2 refused, so Lambda retries from it (3 waits behind it)
    assert harness.relay() == 2
    subjects = sorted(n["Subject"] for n in harness.notifications("P2"))
    assert [s[-7:] for s in subjects] == ["-rate-1", "-rate-2", "-rate-3"]  # each page exactly once


def test_a_lost_race_is_decided_again(harness, error_rate, monkeypatch) -> None:
    """Both paths deliver at once: the loser's conditional write fails and it re-reads."""
    harness.losing_the_race_to(monkeypatch, error_rate("ALARM", T0, via="sns"), T0)  # the other path wins
    outcome = harness.triage(error_rate("ALARM", T0), at=T0)[0]
    assert outcome["result"] == "duplicate"
    assert len(harness.incidents()) == 1 and len(harness.notifications("P2")) == 1
    [backoff] = harness.world.waits  # the loser waited (at random, up to 20 ms) before reading again
    assert 0 <= backoff <= 0.02


def test_persistent_conflicts_raise_for_a_retry(harness, error_rate, monkeypatch) -> None:
    def always_conflict(self, transition):
        raise ConcurrentUpdate("conflict")

    monkeypatch.setattr(IncidentLedger, "apply", always_conflict)
    with pytest.raises(ConcurrentUpdate):
        harness.triage(error_rate("ALARM", T0), at=T0)


def test_acknowledge(harness, error_rate) -> None:
    harness.triage(error_rate("ALARM", T0), at=T0)
    bus = harness.world.settings.ops_bus_name
    acked = harness.ledger.acknowledge("INC-2026-001", "alice", "2026-11-26T09:20:00.000Z", bus)
    assert acked["status"] == "ACKNOWLEDGED" and acked["acknowledged_by"] == "alice"
    again = harness.ledger.acknowledge("INC-2026-001", "bob", "2026-11-26T09:25:00.000Z", bus)
    assert again["acknowledged_by"] == "alice"  # the first acknowledgement stands
    assert [e["event"] for e in again["timeline"]] == ["opened", "acknowledged"]
    # Resolution still works from ACKNOWLEDGED.
    harness.triage(error_rate("OK", T0 + timedelta(minutes=30), previous="ALARM"), at=T0 + timedelta(minutes=30))
    assert harness.incidents()[0]["status"] == "RESOLVED"


def test_a_human_resolves_an_incident_whose_alarm_is_stuck(harness, error_rate) -> None:
    """`opsctl incident resolve`: closed on the ledger with who, why and the alarm's state, announced
    and paged "Resolved" through the outbox; the alarm's next ALARM opens a new incident."""
    opened = harness.triage(error_rate("ALARM", T0), at=T0)[0]["incident"]
    harness.empty_queues()
    at = isoformat(T0 + timedelta(hours=3))
    incident = harness.ledger.resolve(opened, by="human:alice", reason="fixed by hand; alarm misconfigured",
                                      alarm_state="ALARM", at=at, ops_bus=harness.world.settings.ops_bus_name)
    assert (incident["status"], incident["resolved_by"], incident["time_to_resolve_seconds"]) == (
        "RESOLVED", "human:alice", 3 * 3600)
    assert incident["timeline"][-1] == {"at": at, "event": "resolved", "by": "human:alice",
                                             "reason": "fixed by hand; alarm misconfigured", "alarm_state": "ALARM"}
    harness.relay()
    [event] = harness.ops_events()
    assert (event["detail-type"], event["detail"]["resolved_by"]) == ("Incident Resolved", "human:alice")
    [page] = harness.notifications("P2")
    assert page["Subject"] == f"[P2] {opened} Resolved by human:alice: financeanalyst-pro-demo-error-rate"
    # Resolving twice changes nothing; the alarm's own OK later finds nothing open; its next ALARM is new.
    assert harness.ledger.resolve(opened, by="human:bob", reason="again", alarm_state="OK", at=at,
                                  ops_bus=harness.world.settings.ops_bus_name)["resolved_by"] == "human:alice"
    assert harness.triage(error_rate("OK", T0 + timedelta(hours=4), previous="ALARM"),
                          at=T0 + timedelta(hours=4))[0]["result"] == "recorded"
    assert harness.triage(error_rate("ALARM", T0 + timedelta(hours=5)), at=T0 + timedelta(hours=5))[0]["result"] \
        == "opened"
    assert [i["status"] for i in harness.incidents()] == ["RESOLVED", "OPEN"]


FLAPPING = "financeanalyst-pro-demo-error-rate"  # P2, configured: reopen within 30 min, pages at most every 30 min


def flap(harness, cycles: int, start: datetime = T0) -> list[dict[str, Any]]:
    """`cycles` times ALARM then OK two minutes later, every four minutes."""
    outcomes = []
    for cycle in range(cycles):
        at = start + timedelta(minutes=4 * cycle)
        outcomes += harness.triage(eventbridge_alarm(FLAPPING, "ALARM", at), at)
        outcomes += harness.triage(eventbridge_alarm(FLAPPING, "OK", at + timedelta(minutes=2)), at + timedelta(minutes=2))
    return outcomes


def settle(harness) -> list[dict[str, Any]]:
    """Run the pending flap-settled checks at their time (as Scheduler would)."""
    tasks = sorted((json.loads(s["Target"]["Input"]) for s in harness.follow_ups() if s["Name"].startswith("flap-settled-")),
                   key=lambda task: task["at"])
    return [outcome for task in tasks for outcome in harness.triage(task, parse_timestamp(task["at"]))]


def test_an_alarm_flapping_8_times_in_32_minutes_is_one_incident_and_pages_3_times(harness) -> None:
    """Opened (paged), resolved (paged: not flapping yet), then reopened within 30 min seven times:
    each reopening's page is damped (one page every 30 min at most) and each resolution of the
    flapping incident waits until the alarm has stayed OK for 30 min. Nothing is dropped: every
    held-back page is on the timeline, and the settled resolution is paged once."""
    outcomes = flap(harness, 8)
    assert [o["result"] for o in outcomes] == ["opened", "resolved"] + ["reopened", "resolved"] * 7
    incident = outcomes[0]["incident"]
    assert {o["incident"] for o in outcomes} == {incident}
    assert [o["held_back_by"] for o in outcomes[2:]] == ["flap damping"] * 14
    pages = [n["Subject"] for n in harness.notifications("P2")]
    assert pages == [f"[P2] {incident} Opened: {FLAPPING}", f"[P2] {incident} Resolved: {FLAPPING}"]

    [settled] = settle(harness)[-1:]
    assert (settled["result"], settled["incident"]) == ("paged", incident)
    assert [n["Subject"] for n in harness.notifications("P2")] == [
        f"[P2] {incident} Resolved after flapping: {FLAPPING}"]
    stored = harness.ledger.get_incident(incident)
    assert (stored["status"], stored["flaps"], stored["occurrences"], stored["flapping"]) == ("RESOLVED", 7, 8, True)
    events = [entry["event"] for entry in stored["timeline"]]
    assert events.count("notification-damped") == 7 and events.count("resolution-deferred") == 7
    assert events[-1] == "resolution-paged"
    assert settle(harness)[-1]["result"] == "duplicate"  # Scheduler redelivers: paged once


def test_a_flapping_incident_that_reopens_before_it_settles_is_not_paged_resolved(harness) -> None:
    outcomes = flap(harness, 2)
    incident = outcomes[0]["incident"]
    harness.notifications("P2")
    later = T0 + timedelta(minutes=20)
    [reopened] = harness.triage(eventbridge_alarm(FLAPPING, "ALARM", later), later)
    assert (reopened["result"], reopened["incident"]) == ("reopened", incident)
    checks = settle(harness)
    assert [c["result"] for c in checks] == ["recorded"]  # the check of the OK at +6 min: it reopened since
    assert harness.notifications("P2") == []


def test_an_alarm_back_after_the_reopen_window_opens_a_new_incident_and_pages(harness) -> None:
    first = flap(harness, 1)[0]["incident"]
    later = T0 + timedelta(minutes=40)  # 38 min after its OK: past reopen_minutes (30)
    [opened] = harness.triage(eventbridge_alarm(FLAPPING, "ALARM", later), later)
    assert opened["result"] == "opened" and opened["incident"] != first
    assert [n["Subject"] for n in harness.notifications("P2")][-1] == f"[P2] {opened['incident']} Opened: {FLAPPING}"


def test_a_reopening_after_the_page_interval_pages_again(harness) -> None:
    """Pages about a flapping incident at most every 30 min, not never: the reopening 32 min after
    the last page pages."""
    incident = flap(harness, 1)[0]["incident"]  # paged at +0 (opened) and +2 (resolved)
    later = T0 + timedelta(minutes=31)
    harness.triage(eventbridge_alarm(FLAPPING, "ALARM", later - timedelta(minutes=1)), later - timedelta(minutes=1))
    harness.notifications("P2")
    ok, back = later, later + timedelta(minutes=3)  # 32 min after the last page (+2; the reopening at +30 was damped)
    harness.triage(eventbridge_alarm(FLAPPING, "OK", ok), ok)
    [reopened] = harness.triage(eventbridge_alarm(FLAPPING, "ALARM", back), back)
    assert (reopened["result"], reopened["incident"], reopened["notified"]) == ("reopened", incident, "P2")


def test_a_human_resolution_is_final_even_after_the_alarm_flapped_before(harness) -> None:
    """The alarm's record remembers its last triage resolution (for reopening); a human's resolution
    replaces it, so the alarm's next ALARM, minutes later, opens a new incident."""
    flap(harness, 1)  # INC-2026-001, resolved by triage at +2
    later = T0 + timedelta(minutes=40)
    [second] = harness.triage(eventbridge_alarm(FLAPPING, "ALARM", later), later)
    harness.ledger.resolve(second["incident"], by="human:alice", reason="fixed by hand", alarm_state="ALARM",
                           at=isoformat(later + timedelta(minutes=5)), ops_bus=harness.world.settings.ops_bus_name)
    again = later + timedelta(minutes=10)
    harness.triage(eventbridge_alarm(FLAPPING, "OK", again - timedelta(minutes=1)), again - timedelta(minutes=1))
    [third] = harness.triage(eventbridge_alarm(FLAPPING, "ALARM", again), again)
    assert (third["result"], third["incident"]) == ("opened", "INC-2026-003")
