"""Shared fixtures: fake credentials, the demo config, and the configured world in moto."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from moto import mock_aws

from controlplane.clock import FixedClock
from controlplane.config import ControlPlaneConfig, load_config
from controlplane.guardrails import Guardrails
from controlplane.ledger import IncidentLedger, from_item
from iam_audit import Call, CallRecorder
from opsctl import lambda_host
from opsctl.world import LocalWorld, drain, provision, use_fake_credentials
from paths import DEMO_CONFIG

# Every AWS call a handler makes in any test is recorded for the IAM audit (tests/infra/test_iam.py),
# which runs last: what the functions called, checked against the roles the template gives them.
CALLS = CallRecorder()
TIERS_THE_AUDIT_NEEDS = ("integration", "e2e")


# Test tiers, one folder each; every test is marked with its folder's tier (`make test-<tier>`).
TIERS = {"unit": "pure functions, no AWS", "integration": "handlers against the moto world",
         "infra": "the synthesized template, cdk-nag, cfn-lint, the pinned CDK CLI, the IAM audit",
         "e2e": "opsctl replay, fuzzing, AWS's own event shapes, the status page in a browser"}


def pytest_addoption(parser: pytest.Parser) -> None:
    # `make test` runs the suite as two pytest processes at once (tools/run_tests.py), then the audit
    # in a third, on the calls both recorded.
    group = parser.getgroup("IAM audit")
    group.addoption("--calls-out", type=Path, help="write the AWS calls this run records, and the test files it "
                                                   "ran whole, to this file (for an audit in a later run)")
    group.addoption("--calls-in", type=Path, action="append", default=[],
                    help="audit the calls an earlier run wrote (--calls-out) as well; repeatable")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "iam_audit: runs after every other test, on the calls they recorded")
    for tier, what in TIERS.items():
        config.addinivalue_line("markers", f"{tier}: {what}")
    config.stash[RAN_BEFORE] = set()
    for path in config.getoption("calls_in"):
        recorded = json.loads(path.read_text(encoding="utf-8"))
        CALLS.calls.update(Call(**call) for call in recorded["calls"])
        config.stash[RAN_BEFORE].update(Path(file) for file in recorded["files"])
    config.stash[PARTLY_RUN] = set()
    CALLS.install()


def pytest_unconfigure(config: pytest.Config) -> None:
    CALLS.uninstall()


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    tests = Path(__file__).resolve().parent
    for item in items:
        item.add_marker(getattr(pytest.mark, Path(str(item.fspath)).resolve().relative_to(tests).parts[0]))
    audits = [item for item in items if item.get_closest_marker("iam_audit")]
    items[:] = [item for item in items if not item.get_closest_marker("iam_audit")] + audits


def pytest_deselected(items: list[pytest.Item]) -> None:
    """A file some of whose tests are left out (-k, -m) did not make all its calls in this run."""
    if items:
        items[0].config.stash[PARTLY_RUN].update(Path(str(item.fspath)) for item in items
                                                 if not item.get_closest_marker("iam_audit"))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Whether the calls the audit will see are every integration and e2e test's (WHOLE_RUN): each
    of their files ran whole, in this run or in one whose calls it was given (--calls-in)."""
    config, tests = session.config, Path(__file__).resolve().parent
    partly_run, ran_before = config.stash[PARTLY_RUN], config.stash[RAN_BEFORE]
    ran_whole = {Path(str(item.fspath)) for item in session.items} - partly_run
    config.stash[RAN_WHOLE] = ran_whole
    needed = {path for tier in TIERS_THE_AUDIT_NEEDS for path in (tests / tier).glob("test_*.py")}
    config.stash[WHOLE_RUN] = needed <= ran_whole | ran_before


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    out = session.config.getoption("calls_out")
    if out is not None:
        # A run that failed may have stopped early (-x): none of its files counts as run whole.
        ran_whole: set[Path] = session.config.stash.get(RAN_WHOLE, set()) if exitstatus == 0 else set()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"calls": [dataclasses.asdict(call) for call in CALLS.calls],
                                   "files": sorted(map(str, ran_whole))}), encoding="utf-8")


WHOLE_RUN = pytest.StashKey[bool]()
RAN_WHOLE = pytest.StashKey[set[Path]]()  # the test files this run runs every test of
RAN_BEFORE = pytest.StashKey[set[Path]]()  # those of the runs whose calls it was given
PARTLY_RUN = pytest.StashKey[set[Path]]()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    functions = sorted({call.function for call in CALLS.calls})
    whole = terminalreporter.config.stash.get(WHOLE_RUN, False)
    terminalreporter.write_line(f"IAM audit: {len(CALLS.calls)} distinct AWS calls recorded from {len(functions)} "
                                f"functions ({', '.join(functions)}), "
                                + ("every integration and e2e test's" if whole else "not every test's"))


@pytest.fixture(scope="session")
def recorded_calls(request: pytest.FixtureRequest) -> tuple[CallRecorder, bool]:
    """The calls recorded so far, and whether every integration and e2e test was collected to make them."""
    return CALLS, request.config.stash.get(WHOLE_RUN, False)


@pytest.fixture(scope="session")
def config() -> ControlPlaneConfig:
    return load_config(DEMO_CONFIG)


@pytest.fixture(scope="session")
def org_config() -> ControlPlaneConfig:
    """config/production-api.example.yaml: eu-west-1, a regional WAF, and an organization (the hub
    of three member accounts in two Regions)."""
    return load_config(DEMO_CONFIG.parent / "production-api.example.yaml")


@pytest.fixture
def aws() -> Iterator[None]:
    use_fake_credentials()
    lambda_host.quiet_powertools()
    with mock_aws():
        yield


@pytest.fixture
def world(aws: None, config: ControlPlaneConfig, tmp_path: Path) -> LocalWorld:
    return provision(config, config.policy(), workdir=tmp_path)


class Harness:
    """Drives the real handlers against the moto world and reads back what they produced."""

    def __init__(self, world: LocalWorld) -> None:
        self.world = world
        self.clock = FixedClock(datetime(2026, 11, 26, tzinfo=timezone.utc))
        # Triage's, as deployed (its own ARN for the checks it schedules); the relay shares them.
        self.deps = world.dependencies("triage", self.clock)
        self.ledger = IncidentLedger(world.client("dynamodb"), world.settings.ledger_table)

    def triage(self, event: Any, at: datetime | None = None, *, relay: bool = True) -> list[dict[str, Any]]:
        """Triage, then (as the ledger stream would) the outbox relay."""
        if at is not None:
            self.clock.set(at)
        self.world.mirror(event)  # CloudWatch's state follows the event, as in the replay
        outcomes = list(lambda_host.invoke("triage", event, self.deps)["outcomes"])
        if relay:
            self.relay()
        return outcomes

    def losing_the_race_to(self, monkeypatch: pytest.MonkeyPatch, event: Any, at: datetime) -> None:
        """The next triage reads the ledger, then `event` is triaged and committed before it writes
        (two deliveries at once): its conditional write is refused, and it reads and decides again.
        CloudWatch's state for `event` is set first, outside the race (what happens inside it is
        the racing triage's, which the IAM audit holds to triage's role)."""
        self.world.mirror(event)
        real_read = IncidentLedger.read_alarm

        def read_then_lose(ledger: IncidentLedger, alarm_arn: str, year: int, component: str | None = None) -> Any:
            snapshot = real_read(ledger, alarm_arn, year, component)
            monkeypatch.setattr(IncidentLedger, "read_alarm", real_read)
            self.triage(event, at)
            return snapshot

        monkeypatch.setattr(IncidentLedger, "read_alarm", read_then_lose)

    def relay(self) -> int:
        return self.world.pump_outbox(lambda function, event: lambda_host.invoke(function, event, self.deps))

    def waf(self, event: Any, at: datetime | None = None) -> list[dict[str, Any]]:
        if at is not None:
            self.clock.set(at)
        self.as_triage_announced(event)
        return list(lambda_host.invoke("waf_toggle", event, self.world.dependencies("waf_toggle", self.clock))["actions"])

    def human(self, task: dict[str, Any]) -> dict[str, Any]:
        """A `manual` task as opsctl sends it: with the human request it records first."""
        action = task.get("action") or "rollback"
        guardrails = self.world.dependencies("opsctl", self.clock).repository(Guardrails)
        request = guardrails.record_request(by=task["by"], actions=(action,), target="-", reason=None, at=self.clock.now())
        return task | {"request": request}

    def as_triage_announced(self, event: Any) -> None:
        """A test's "Incident Opened" stands for one triage announced (see LocalWorld.as_announced);
        forgeries are sent without this."""
        self.world.as_announced(event)

    def calendar(self, event: Any, at: datetime | None = None) -> list[dict[str, Any]]:
        """The calendar Lambda, then (as the ledger stream would) the outbox relay."""
        if at is not None:
            self.clock.set(at)
        actions = list(lambda_host.invoke("calendar", event, self.world.dependencies("calendar", self.clock))["actions"])
        self.relay()
        return actions

    def use_policy(self, change: Callable[[dict[str, Any]], None]) -> None:
        """Run the handlers under a changed policy (a new file, as a new deploy would ship)."""
        policy = json.loads(Path(self.world.settings.policy_path).read_text())
        change(policy)
        path = Path(self.world.settings.policy_path).with_name(f"policy-{len(policy)}-{id(change)}.json")
        path.write_text(json.dumps(policy))
        self.world.settings = dataclasses.replace(self.world.settings, policy_path=str(path))
        self.deps.settings = self.world.settings

    def notifications(self, severity: str) -> list[dict[str, Any]]:
        return drain(self.world.client("sqs"), self.world.notification_queues[severity])

    def all_notifications(self) -> list[dict[str, Any]]:
        return [n for severity in self.world.notification_queues for n in self.notifications(severity)]

    def ops_events(self) -> list[dict[str, Any]]:
        return drain(self.world.client("sqs"), self.world.ops_event_queue)

    def dead_letters(self) -> list[dict[str, Any]]:
        return drain(self.world.client("sqs"), self.world.settings.rejects_queue_url)

    def empty_queues(self) -> None:
        self.all_notifications(), self.ops_events(), self.dead_letters()

    def follow_ups(self) -> list[dict[str, Any]]:
        """The one-time schedules the functions created (the group also holds the standing traffic
        baseline job)."""
        scheduler, group = self.world.client("scheduler"), self.world.settings.schedule_group
        found = [scheduler.get_schedule(Name=s["Name"], GroupName=group)
                 for s in scheduler.list_schedules(GroupName=group)["Schedules"]]
        return [s for s in found if s["ScheduleExpression"].startswith("at(")]

    def ledger_items(self, partition: str) -> list[dict[str, Any]]:
        """Every item of one ledger partition (OUTBOX, DECISION, …), in key order."""
        response = self.world.client("dynamodb").query(
            TableName=self.world.settings.ledger_table, KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": partition}}, ConsistentRead=True)
        return [from_item(item) for item in response["Items"]]

    def incidents(self) -> list[dict[str, Any]]:
        return list(self.ledger.iter_incidents(newest_first=False))


@pytest.fixture
def harness(world: LocalWorld) -> Harness:
    return Harness(world)
