"""The compiled policy: the validated config as synth wrote it (controlplane.config.compiler).

Lambdas only `json.load` it; all parsing and validation happened at synth."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any


def alarm_arn(region: str, account: str, name: str) -> str:
    """An alarm's identity: account, Region and name (a name alone may be anyone's)."""
    return f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"


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

    # --- whose alarms we believe (README: trust model) -----------------------------------------

    def alarm_arn(self, name: str) -> str:
        return alarm_arn(self.raw["region"], self.raw["account"], name)

    def is_ours(self, alarm_arn: str) -> bool:
        """An alarm our stacks created: this deployment's account and Region, our name prefix."""
        return alarm_arn.startswith(self.alarm_arn(f"{self.prefix}-"))

    def is_local(self, alarm_arn: str) -> bool:
        """In this deployment's account and Region, where our credentials can ask CloudWatch about it."""
        return alarm_arn.startswith(self.alarm_arn(""))

    def allows_account(self, account: str) -> bool:
        return account in self.raw["intake"]["allowed_accounts"]

    def trusts_tags(self, alarm_arn: str, account: str) -> bool:
        """`[ops: …]` tags in a description are believed on our own alarms, and on those of an allowed
        account configured with trust_tags; anyone else could write anything there."""
        allowed = self.raw["intake"]["allowed_accounts"].get(account) or {}
        return self.is_ours(alarm_arn) or (account != self.raw["account"] and bool(allowed.get("trust_tags")))


@cache
def load_policy(path: str) -> Policy:
    with open(path, encoding="utf-8") as handle:
        return Policy(json.load(handle))
