"""Ledger repositories: each data area's reads and writes in one class, each operation declaring the
DynamoDB actions it takes.

A function's role is granted exactly the actions of the repository operations its capability lists
(controlplane/capabilities.py): the declaration sits on the method that makes the call, so a new
call and its grant change together. tests/infra/test_iam.py proves both ways that the grants derived
this way are the calls the functions make.

Services get their repositories from `Dependencies.repository(kind)`, so a test can hand a service
an in-memory fake instead (`Dependencies.repositories[kind] = fake`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Self, TypeVar

if TYPE_CHECKING:
    from controlplane.runtime import Dependencies

# A listing through the table's index (incidents, decisions, windows by time): granted on the index.
INDEX_QUERY = "Query@index"

Operation = TypeVar("Operation", bound=Callable[..., Any])


def takes(*actions: str) -> Callable[[Operation], Operation]:
    """Declare the DynamoDB actions an operation takes on the ledger (a transaction's Put, Update and
    Delete are authorised as PutItem, UpdateItem and DeleteItem)."""

    def declare(operation: Operation) -> Operation:
        operation.ledger_actions = frozenset(actions)  # type: ignore[attr-defined]
        return operation

    return declare


def actions_of(operations: Iterable[Callable[..., Any]]) -> frozenset[str]:
    """The actions a set of repository operations takes, together."""
    found: set[str] = set()
    for operation in operations:
        declared = getattr(operation, "ledger_actions", None)
        if declared is None:
            raise TypeError(f"{operation.__qualname__} declares no ledger actions (@takes)")
        found |= declared
    return frozenset(found)


class Repository:
    """One data area of the ledger table."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    @classmethod
    def of(cls, deps: Dependencies) -> Self:
        """The repository a deployed function uses (its ledger table, its client)."""
        return cls(deps.client("dynamodb"), deps.settings.ledger_table)
