"""The compiled policy: the validated config as synth wrote it (see stacks/config.py).

Lambdas only `json.load` it; all parsing and validation happened at synth."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any


@dataclass(frozen=True)
class Policy:
    raw: dict[str, Any]

    @property
    def config_version(self) -> str:
        return str(self.raw["config_version"])

    @property
    def app(self) -> str:
        return str(self.raw["app"])

    @property
    def environment(self) -> str:
        return str(self.raw["environment"])

    @property
    def prefix(self) -> str:
        """{app}-{environment}: how the stacks name everything they create."""
        return f"{self.app}-{self.environment}"

    def section(self, name: str) -> dict[str, Any]:
        value = self.raw[name]
        assert isinstance(value, dict)
        return value


@cache
def load_policy(path: str) -> Policy:
    with open(path, encoding="utf-8") as handle:
        return Policy(json.load(handle))
