"""How a terminal shows the application's errors (controlplane.logs_insights finds them)."""

from __future__ import annotations

from typing import Any


def error_lines(found: dict[str, Any]) -> list[str]:
    """The errors as a terminal shows them: count, then message."""
    return [f"  {error['occurrences']:>6}  {error['message']}" for error in found["errors"]] or ["  none"]
