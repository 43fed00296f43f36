"""Injected faults: Lambda dying right after a call that did its work, AWS throttling, Lambda's
retries. One handler at a time (`crash_after`, for the integration tests), or over a whole replay
(`FaultyReplay`, for `make faults` and its slice in the e2e tier), checked against a clean run of
the same file by `divergence`."""

from __future__ import annotations

import io
import json
import random
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from controlplane.config import ControlPlaneConfig
from controlplane.events import function_name
from controlplane.guardrails import EXECUTING, Guardrails
from controlplane.ledger import IncidentLedger
from controlplane.notify import PAGE_ID
from opsctl import lambda_host
from opsctl.replay import Replay
from opsctl.world import LocalWorld, drain


class LambdaDied(BaseException):
    """The runtime exited (timeout, out of memory, a host failure) right after a call succeeded.
    A BaseException, as the runtime's exit is: no handler's `except Exception` can swallow it."""


def crash_after(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str,
                when: Any = lambda *_, **__: True) -> None:
    """`owner.name` does its work, then Lambda dies (when `when` says so for the call's arguments)."""
    real = getattr(owner, name)

    def call(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        if when(*args, **kwargs):
            raise LambdaDied(f"Lambda runtime exited after {name}")
        return result

    monkeypatch.setattr(owner, name, call)


# --- a whole replay under faults ------------------------------------------------------------------

READ_PREFIXES = ("Get", "List", "Describe", "Query", "Scan", "Head", "BatchGet")
# Lambda's asynchronous invocations (EventBridge rules, SNS, alarm actions, Scheduler): the first
# attempt and two retries, then the function's on-failure dead-letter queue.
ASYNC_ATTEMPTS = 3
# The SDK's own attempts at a throttled call (botocore's standard retry mode) before the handler sees it.
SDK_ATTEMPTS = 3
OUTBOX_RELAY = "outbox_relay"
INCIDENT_ID = re.compile(r"INC-\d{4}-\d{3,}")


@dataclass(frozen=True)
class FaultPlan:
    """Seeded faults on every AWS call a handler makes (never on the world's own calls)."""

    seed: int = 0
    throttle_rate: float = 0.0  # per SDK attempt; the call fails when all SDK_ATTEMPTS are throttled
    crash_rate: float = 0.0  # after each successful write
    crash_at_write: int | None = None  # the sweep: die after this write only (0-based, over the run)


@dataclass
class FaultLog:
    """What the injector did in one run, and what ended on a dead-letter queue."""

    calls: int = 0
    writes: int = 0
    throttled_calls: int = 0
    crashes: list[str] = field(default_factory=list)  # "<function> after <Operation>"
    # Pages whose Publish succeeded and whose sent mark the crash prevented: the retry pages again.
    resent_in_publish_window: set[str] = field(default_factory=set)  # page ids
    dead_letters: list[str] = field(default_factory=list)  # what each dead-letter queue received, as JSON


class Injector:
    """Wraps botocore's call path while a fault run is active."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan, self.log = plan, FaultLog()
        self.random = random.Random(plan.seed)
        # (function, page id) of the last write, when that write was a page.
        self.published: tuple[str, str] | None = None

    @contextmanager
    def active(self) -> Iterator[FaultLog]:
        original = BaseClient._make_api_call
        injector = self

        def faulty(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            function = lambda_host.running_function()
            if function is None:
                return original(client, operation, params)
            injector.before(function, operation)
            result = original(client, operation, params)
            injector.after(function, operation, params)
            return result

        BaseClient._make_api_call = faulty  # type: ignore[method-assign]
        try:
            yield self.log
        finally:
            BaseClient._make_api_call = original  # type: ignore[method-assign]

    def before(self, function: str, operation: str) -> None:
        self.log.calls += 1
        rate = self.plan.throttle_rate
        if rate and all(self.random.random() < rate for _ in range(SDK_ATTEMPTS)):
            self.log.throttled_calls += 1
            if self.published is not None and self.published[0] == function:
                # The call after a page (its sent mark) failed: the invocation fails after publishing,
                # the same window as a crash there, and Lambda's retry pages again.
                self.log.resent_in_publish_window.add(self.published[1])
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded (injected)"},
                               "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)

    def after(self, function: str, operation: str, params: dict[str, Any]) -> None:
        if operation.startswith(READ_PREFIXES):
            return
        self.published = (function, params["MessageAttributes"][PAGE_ID]["StringValue"]) if operation == "Publish" else None
        index = self.log.writes
        self.log.writes += 1
        plan = self.plan
        if index == plan.crash_at_write or (plan.crash_rate and self.random.random() < plan.crash_rate):
            self.log.crashes.append(f"{function} after {operation}")
            if self.published is not None:
                self.log.resent_in_publish_window.add(self.published[1])
            raise LambdaDied(f"{function} died after {operation}")


class DeadLettered(Exception):
    """Every attempt Lambda made failed: the event is on the function's dead-letter queue."""


class FaultyReplay(Replay):
    """The replay with Lambda's retries and dead-letter queues modelled for failed invocations:
    asynchronous invocations get ASYNC_ATTEMPTS (at once: the replay's clock is the events'), the
    stream's batches are bisected on a function error and retried from a failed record until the
    relay's retries are spent (the world's pump). A crashed container is gone: the retry starts cold. Every page delivered is kept
    (with its attributes) for `outcome`."""

    def __init__(self, config: ControlPlaneConfig, log: FaultLog) -> None:
        super().__init__(config, out=io.StringIO())
        self.log = log
        self.pages: list[tuple[str, dict[str, Any]]] = []  # (severity, SNS envelope)
        self._observers: dict[str, str] = {}
        self.outcome: Outcome | None = None

    def provision(self) -> LocalWorld:
        world = super().provision()
        sns, sqs = world.client("sns"), world.client("sqs")
        for severity, topic in world.settings.notify_topics.items():
            queue = sqs.create_queue(QueueName=f"faults-observer-{severity.lower()}")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
            self._observers[severity] = queue
        dead_letter = world._dead_letter

        def stream_dead_letter(record: dict[str, Any]) -> None:
            self.log.dead_letters.append(json.dumps(record, default=str))
            dead_letter(record)

        world._dead_letter = stream_dead_letter  # type: ignore[method-assign]
        return world

    def invoke(self, function: str, event: Any) -> Any:
        assert self.world is not None
        if function == OUTBOX_RELAY:
            return self.relay_bisecting(event["Records"])
        failure: BaseException | None = None
        for _ in range(ASYNC_ATTEMPTS):
            try:
                return super().invoke(function, event)
            except (Exception, LambdaDied) as error:  # noqa: BLE001 - any failure is Lambda's to retry
                self.world.forget_container(function)
                failure = error
        body = json.dumps(event, default=str)
        self.log.dead_letters.append(body)
        with lambda_host.outside_functions():
            sqs = self.world.client("sqs")
            queue = sqs.get_queue_url(QueueName=f"{function_name(self.config.prefix, function)}-dlq")["QueueUrl"]
            sqs.send_message(QueueUrl=queue, MessageBody=body)
        raise DeadLettered(f"{function}: {ASYNC_ATTEMPTS} attempts failed, the last with {failure!r}")

    def relay_bisecting(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        """The stream mapping's answer to a function error (BisectBatchOnFunctionError): the batch is
        split in two and each half retried; a single record that fails is reported to the pump, which
        retries from it until the mapping's retries are spent."""
        assert self.world is not None
        try:
            return dict(super().invoke(OUTBOX_RELAY, {"Records": records}))
        except (Exception, LambdaDied):  # noqa: BLE001 - any failure is Lambda's to retry
            self.world.forget_container(OUTBOX_RELAY)
        if len(records) == 1:
            return {"batchItemFailures": [{"itemIdentifier": records[0]["dynamodb"]["SequenceNumber"]}]}
        half = len(records) // 2
        first = self.relay_bisecting(records[:half])
        return first if first["batchItemFailures"] else self.relay_bisecting(records[half:])

    def collect_side_effects(self) -> None:
        assert self.world is not None
        super().collect_side_effects()
        while self.world.outbox_retrying():  # the stream retries until its records are sent or dead-lettered
            super().collect_side_effects()
        sqs = self.world.client("sqs")
        self.pages += [(severity, page) for severity, queue in self._observers.items() for page in drain(sqs, queue)]

    def finish(self) -> None:
        super().finish()
        self.outcome = outcome(self)


@dataclass
class Outcome:
    """What one run did, named so that two runs compare: an incident by its alarm and opening time
    (incident numbers shift when one is lost), a page by its severity and subject so named."""

    incidents: Counter[str]  # "<alarm>@<opened_at>"
    pages: Counter[str]  # each page once, however often it was delivered
    context: dict[str, str]  # a page's text, incidents named alike: which alarm it is about
    deliveries: Counter[tuple[str, str]]  # (page id, topic) → times delivered
    actions: Counter[str]  # the ledger's decision records
    remediation: dict[str, str]  # each remediated resource → its state at the end
    unfinished: list[str]  # decisions recorded as executing, never finished
    alarms: frozenset[str]  # every alarm name the run knew, to tie an item to its dead letters


def outcome(replay: FaultyReplay) -> Outcome:
    """Read at the end of the run, inside the emulator."""
    world = replay.world
    assert world is not None
    incidents = list(IncidentLedger(world.client("dynamodb"), world.settings.ledger_table).iter_incidents())
    named = {i["id"]: f"{i['alarm_name']}@{i['opened_at']}" for i in incidents}

    def name(text: str) -> str:
        return INCIDENT_ID.sub(lambda match: named.get(match.group(0), match.group(0)), text)

    pages: Counter[str] = Counter()
    deliveries: Counter[tuple[str, str]] = Counter()
    context: dict[str, str] = {}
    for severity, envelope in replay.pages:
        key = (envelope["MessageAttributes"][PAGE_ID]["Value"], envelope["TopicArn"])
        deliveries[key] += 1
        if deliveries[key] == 1:
            page = f"{severity} {name(envelope.get('Subject') or '')}"
            pages[page] += 1
            context[page] = name(envelope.get("Message") or "")
    decisions = world.dependencies("opsctl", replay.clock).repository(Guardrails).decisions()
    actions = Counter(name(f"{d['action']} {d['target']} {d['result']} for {d.get('incident')}: {d['reason']}"
                           + (f" (outcome {d['outcome']['status']})" if "outcome" in d else "")) for d in decisions)
    unfinished = [name(f"{d['action']} {d['target']} for {d.get('incident')}") for d in decisions
                  if d["result"] == EXECUTING]
    return Outcome(incidents=Counter(named.values()), pages=pages, context=context, deliveries=deliveries, actions=actions,
                   remediation=remediation_state(replay), unfinished=unfinished,
                   alarms=frozenset({a.name for a in world.config.alarms} | {i["alarm_name"] for i in incidents}))


def remediation_state(replay: FaultyReplay) -> dict[str, str]:
    """What the remediations move, as AWS holds it, read by the functions' own readers (outside any
    invocation, so unfaulted): the rate rule's action, each rollback target's live version."""
    world = replay.world
    assert world is not None
    waf = lambda_host.function_module("waf_toggle", "waf_service").WafService(world.dependencies("waf_toggle", replay.clock))
    rollback = lambda_host.function_module("rollback", "rollback_service").RollbackService(
        world.dependencies("rollback", replay.clock))
    state = {f"WebACL rule {waf.target} ({waf.waf.traffic_alarm})": waf.rule("faults").current_action()}
    for target, spec in rollback.config.targets.items():
        state[f"{target} ({', '.join(spec.alarms)})"] = rollback.strategy(target, "faults").current()
    return state


COUNTS = ("duplicate_incidents", "duplicate_pages", "lost_without_dead_letter", "half_done_remediations",
          "false_pages")


def divergence(clean: Outcome, faulted: Outcome, log: FaultLog) -> dict[str, Any]:
    """The invariants, counted against the clean run (with what broke each, for the report).

    A loss or a difference is excused when a dead-letter queue holds an event about the same alarm
    (named in the item, or in the page's text):
    nothing is lost, an operator redrives it. A page delivered twice because Lambda died between its
    Publish and its sent mark is the one duplicate at-least-once delivery cannot remove; it is counted
    apart (`resent_in_publish_window`): it carries its page id for consumers to drop."""

    def excused(item: str) -> bool:
        about = item + faulted.context.get(item, "") + clean.context.get(item, "")
        alarms = [alarm for alarm in faulted.alarms | clean.alarms if alarm in about]
        return any(alarm in letter for alarm in alarms for letter in log.dead_letters)

    found: dict[str, list[str]] = {count: [] for count in COUNTS}
    found["duplicate_incidents"] = [f"{name} ×{n}" for name, n in faulted.incidents.items() if n > 1]
    window = [f"{page} on {topic} ×{n}" for (page, topic), n in faulted.deliveries.items()
              if n > 1 and page in log.resent_in_publish_window]
    found["duplicate_pages"] = [f"{page} on {topic} ×{n}" for (page, topic), n in faulted.deliveries.items()
                                if n > 1 and page not in log.resent_in_publish_window]
    for kind, before, after in (("incident", clean.incidents, faulted.incidents), ("page", clean.pages, faulted.pages),
                                ("action", clean.actions, faulted.actions)):
        found["lost_without_dead_letter"] += [f"{kind} {item}" for item in (before - after).elements()
                                              if not excused(item)]
    found["false_pages"] = [item for item in (faulted.pages - clean.pages).elements() if not excused(item)]
    found["half_done_remediations"] = [
        f"{resource}: {faulted.remediation.get(resource)} (clean run: {state})"
        for resource, state in clean.remediation.items()
        if faulted.remediation.get(resource) != state and not excused(resource)
    ] + [f"decision left executing: {item}" for item in faulted.unfinished if not excused(item)]
    return {count: len(items) for count, items in found.items()} | {
        "resent_in_publish_window": len(window), "details": {k: v for k, v in found.items() if v}}


def run(config: ControlPlaneConfig, lines: list[str], plan: FaultPlan | None = None) -> tuple[Outcome, FaultLog]:
    """Replay `lines` under `plan` (no faults: the clean run, which still counts the writes)."""
    injector = Injector(plan or FaultPlan())
    replay = FaultyReplay(config, injector.log)
    with injector.active():
        replay.run(iter(lines))
    assert replay.outcome is not None
    return replay.outcome, injector.log
