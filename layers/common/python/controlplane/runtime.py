"""Dependencies of a handler: clients, table, clock, settings and policy, created on first use.

Lambdas get wall time and clients from the environment; `opsctl replay` and tests install their
own Dependencies (moto clients, an event-time clock) with `install()`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import boto3

from controlplane.clock import Clock, SystemClock
from controlplane.policy import Policy, load_policy
from controlplane.settings import Settings, lambda_settings


@dataclass
class Dependencies:
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    session: Any = None
    _clients: dict[str, Any] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            session = self.session or boto3.session.Session()
            client = session.client(service)
            # Count AWS calls so the benchmark can report the critical path honestly.
            client.meta.events.register("before-call", self._count_call)
            self._clients[service] = client
        return self._clients[service]

    def _count_call(self, model: Any, **_: Any) -> None:
        self.calls.append(f"{model.service_model.service_name}.{model.name}")

    @property
    def policy(self) -> Policy:
        return load_policy(self.settings.policy_path)


_installed: Dependencies | None = None


def install(dependencies: Dependencies | None) -> None:
    global _installed
    _installed = dependencies


def dependencies() -> Dependencies:
    global _installed
    if _installed is None:
        _installed = Dependencies(settings=lambda_settings())
    return _installed
