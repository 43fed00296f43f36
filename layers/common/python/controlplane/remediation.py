"""What every remediation function shares: its guardrails, ledger reads, pages and action reports."""

from __future__ import annotations

from typing import Any

from controlplane.guardrails import Decision, Guardrails
from controlplane.ledger import read_item
from controlplane.runtime import Dependencies


def action_note(kind: str, target: str, result: str, reason: str, incident: str | None = None,
                **extra: Any) -> dict[str, Any]:
    """What a function reports of one thing it did or decided not to do (the replay's `actions`)."""
    return {"type": kind, "target": target, "result": result, "reason": reason, "incident": incident, **extra}


class Remediation:
    capability: str

    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps
        self.policy = deps.policy.raw
        self.table = deps.settings.ledger_table
        self.guardrails = Guardrails(table=self.table, client=deps.client("dynamodb"), policy=self.policy,
                                     clock=deps.clock)

    def item(self, pk: str, sk: str) -> dict[str, Any] | None:
        return read_item(self.deps.client("dynamodb"), self.table, pk, sk)

    def alarm_record(self, alarm_name: str) -> dict[str, Any] | None:
        """The alarm as triage last recorded it (state, changed_at, open incident)."""
        arn = f"arn:aws:cloudwatch:{self.policy['region']}:{self.policy['account']}:alarm:{alarm_name}"
        return self.item(f"ALARM#{arn}", "STATE")

    def alarm_state(self, alarm_name: str) -> str | None:
        record = self.alarm_record(alarm_name)
        return str(record["state"]) if record and record.get("state") else None

    def page(self, severity: str, subject: str, message: str) -> None:
        self.deps.client("sns").publish(TopicArn=self.deps.settings.notify_topics[severity], Subject=subject[:100],
                                        Message=message)

    @staticmethod
    def report(decision: Decision, target: str, result: str) -> dict[str, Any]:
        return {"type": decision.request.action, "target": target, "result": result, "reason": decision.reason,
                "incident": decision.request.incident, "decision": decision.id}

    note = staticmethod(action_note)
