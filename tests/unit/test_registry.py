"""The capability registry declares every function once, and each function's ledger grants come from
the repository operations it lists (tests/infra/test_iam.py proves those grants against the calls)."""

from __future__ import annotations

import inspect

import pytest

from controlplane import registry
from controlplane.config import load_config
from controlplane.policy import Policy
from controlplane.repository import Repository, actions_of
from opsctl.lambda_host import FUNCTIONS_DIR
from paths import ROOT


@pytest.fixture(scope="module", params=["demo", "production-api.example"])
def policy(request: pytest.FixtureRequest, config) -> Policy:
    """The demo (one account) and the example with an organization (the coverage function, the
    intake bus's rules)."""
    if request.param == "demo":
        return Policy(config.policy())
    return Policy(load_config(ROOT / "config" / f"{request.param}.yaml").policy())


def test_every_function_folder_is_registered_and_every_entry_has_a_folder() -> None:
    folders = {path.name for path in FUNCTIONS_DIR.iterdir() if (path / "handler.py").exists()}
    assert set(registry.functions()) == folders


def test_ledger_operations_are_repository_methods_that_declare_their_actions() -> None:
    for capability in registry.CAPABILITIES:
        for operation in capability.ledger:
            owner = inspect.getmodule(operation)
            cls = getattr(owner, operation.__qualname__.split(".")[0])
            assert issubclass(cls, Repository), operation.__qualname__
            assert actions_of([operation]), operation.__qualname__
        assert capability.ledger_actions or capability.lists, capability.function


def test_an_operation_without_a_declaration_is_refused() -> None:
    class Undeclared(Repository):
        def read(self) -> None: ...

    try:
        actions_of([Undeclared.read])
    except TypeError as refused:
        assert "Undeclared.read declares no ledger actions" in str(refused)
    else:
        raise AssertionError("an undeclared operation was accepted")


def test_each_scheduled_task_runs_in_one_function(policy: Policy) -> None:
    """A standing schedule's task is routed (in the replay) to the function whose entry declares the
    schedule, whether the task is also a follow-up's (the drill) or configured (the calendar's)."""
    tasks = [task for capability in registry.CAPABILITIES for task in capability.tasks]
    assert len(tasks) == len(set(tasks))
    standing = [(capability.function, schedule.payload["task"])
                for capability in registry.deployed(policy) for schedule in capability.schedules(policy)]
    assert all(registry.task_function(task, policy) == function for function, task in standing)
    assert registry.task_function("no-such-task", policy) is None


def test_standing_schedules_have_unique_names_and_construct_ids(policy: Policy) -> None:
    schedules = [s for capability in registry.CAPABILITIES for s in capability.schedules(policy)]
    assert len({s.name for s in schedules}) == len({s.id for s in schedules}) == len(schedules)
    assert {s.group for s in schedules} == {registry.CALENDAR_GROUP, registry.CHECKS_GROUP}
