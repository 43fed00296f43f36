"""The capability registry declares every function once, and each function's ledger grants come from
the repository operations it lists (tests/infra/test_iam.py proves those grants against the calls)."""

from __future__ import annotations

import inspect

from controlplane import registry
from controlplane.repository import Repository, actions_of
from opsctl.lambda_host import FUNCTIONS_DIR


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


def test_each_scheduled_task_runs_in_one_function() -> None:
    tasks = [task for capability in registry.CAPABILITIES for task in capability.tasks]
    assert len(tasks) == len(set(tasks))
