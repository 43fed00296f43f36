"""Injected faults: Lambda dying right after a call that did its work."""

from __future__ import annotations

from typing import Any

import pytest


class LambdaDied(RuntimeError):
    """The runtime exited (timeout, out of memory, a host failure) right after a call succeeded."""


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
