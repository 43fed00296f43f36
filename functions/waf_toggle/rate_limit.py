"""The pre-provisioned rate-based rule of the WebACL, flipped between COUNT and its blocking action.

Only the rule's action changes, never its limit (editing a live rate rule resets its counters), and
every other rule is written back exactly as read: a concurrent writer's change survives, because a
LockToken conflict (WAFOptimisticLockException) means a fresh read and a retry."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_ATTEMPTS = 5
# Fields of GetWebACL's WebACL that UpdateWebACL takes back unchanged.
_PASSTHROUGH = ("Description", "CustomResponseBodies", "CaptchaConfig", "ChallengeConfig", "TokenDomains",
                "AssociationConfig", "DataProtectionConfig")


class RuleMissing(Exception):
    """The WebACL has no rule of the configured name: nothing to toggle (fail closed)."""


@dataclass(frozen=True)
class WebAcl:
    name: str
    id: str
    scope: str  # CLOUDFRONT | REGIONAL


@dataclass
class FlipResult:
    changed: bool
    previous: str
    attempts: int
    waf_calls: int


def rule_action(rule: dict[str, Any]) -> str:
    """COUNT, BLOCK, CHALLENGE or CAPTCHA: the one key of the rule's Action."""
    return next(iter(rule["Action"])).upper()


class RateLimitRule:
    def __init__(self, client: Any, acl: WebAcl, rule_name: str, *, sleep: Callable[[float], None],
                 pace: Callable[[], None]) -> None:
        self.client = client
        self.acl = acl
        self.rule_name = rule_name
        self.sleep = sleep
        self.pace = pace

    def read(self) -> tuple[dict[str, Any], str, dict[str, Any]]:
        response = self.client.get_web_acl(Name=self.acl.name, Scope=self.acl.scope, Id=self.acl.id)
        web_acl = response["WebACL"]
        for rule in web_acl["Rules"]:
            if rule["Name"] == self.rule_name:
                return web_acl, response["LockToken"], rule
        raise RuleMissing(f"WebACL {self.acl.name} has no rule {self.rule_name!r}")

    def current_action(self) -> str:
        return rule_action(self.read()[2])

    def set_action(self, action: str) -> FlipResult:
        """Make the rule's action `action`; no write when it already is."""
        calls = 0
        for attempt in range(1, MAX_ATTEMPTS + 1):
            web_acl, token, rule = self.read()
            calls += 1
            previous = rule_action(rule)
            if previous == action:
                return FlipResult(changed=False, previous=previous, attempts=attempt, waf_calls=calls)
            rules = [dict(r, Action={action.capitalize(): {}}) if r["Name"] == self.rule_name else r
                     for r in web_acl["Rules"]]
            update = {"Name": self.acl.name, "Scope": self.acl.scope, "Id": self.acl.id, "LockToken": token,
                      "DefaultAction": web_acl["DefaultAction"], "Rules": rules,
                      "VisibilityConfig": web_acl["VisibilityConfig"]}
            update |= {key: web_acl[key] for key in _PASSTHROUGH if web_acl.get(key)}
            self.pace()
            try:
                self.client.update_web_acl(**update)
                return FlipResult(changed=True, previous=previous, attempts=attempt, waf_calls=calls + 1)
            except self.client.exceptions.WAFOptimisticLockException:
                calls += 1
                # Someone else wrote between our read and our write: back off with jitter, re-read.
                self.sleep(random.uniform(0, 0.2 * 2**attempt))
        raise RuntimeError(f"WebACL {self.acl.name}: still conflicting after {MAX_ATTEMPTS} attempts")
