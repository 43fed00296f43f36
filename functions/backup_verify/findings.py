"""What a backup check found, as a virtual alarm: one name per (check, resource), in ALARM or OK.

Each finding becomes a "Backup Check" event on the ops bus, which triage turns into incidents like
any alarm transition. Only changes are sent: the verifier reads the virtual alarms' records from the
ledger (one BatchGetItem per 100) and emits a finding whose state differs from what triage holds."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

from controlplane.alarm_tags import format_tags
from controlplane.events import BACKUP_CHECK, OPS_SOURCE
from controlplane.ledger import IncidentLedger
from controlplane.policy import alarm_arn
from controlplane.runtime import Dependencies

# integrity: a restore test's copy does not hold its source's data: the runbook's Data Loss (P0).
SEVERITY = {"integrity": "P0", "freshness": "P1", "restore": "P1", "job": "P2", "rto": "P2", "retention": "P2",
            "blind-spot": "P2", "orphans": "P3"}
RUNBOOK_SECTION = "backup--recovery"


@dataclass(frozen=True)
class Finding:
    check: str  # integrity | freshness | job | restore | rto | retention | blind-spot | orphans
    subject: str  # the resource ARN, or what the check looked at
    state: str  # ALARM | OK
    reason: str
    observed_at: str
    # Where the subject is: a member account's and Region's (its spoke's vault), or "" for the hub's.
    account: str = ""
    region: str = ""

    def alarm_name(self, prefix: str) -> str:
        return check_alarm_name(prefix, self.check, self.subject)


def check_alarm_name(prefix: str, check: str, subject: str) -> str:
    """The virtual alarm a check of a subject reports as."""
    return f"{prefix}-backup-{check}-{slug(subject)}"[:255]


def slug(arn: str) -> str:
    """arn:aws:rds:us-east-1:1:db:orders → rds-db-orders; anything else keeps its safe characters."""
    parts = arn.split(":")
    readable = "-".join([parts[2], *parts[5:]]) if arn.startswith("arn:") and len(parts) > 5 else arn
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", readable).strip("-")[:180]


class FindingSink:
    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps
        self.policy = deps.policy
        self.prefix = deps.policy.prefix

    def emit(self, findings: list[Finding]) -> list[Finding]:
        """Send the findings whose state differs from the ledger's record of their virtual alarm
        (each placed in its account and Region: the hub's, unless it names a member's). A virtual
        alarm triage never recorded was never in ALARM: an OK finding of it changes nothing."""
        findings = [replace(f, account=f.account or self.policy.account, region=f.region or self.policy.region)
                    for f in findings]
        recorded = self.deps.repository(IncidentLedger).alarm_states(sorted({self.arn(f) for f in findings}))
        changed = [f for f in findings if (recorded.get(self.arn(f)) or "OK") != f.state]
        self.deps.put_on_ops_bus([self._entry(f) for f in changed], "backup findings")
        return changed

    def arn(self, finding: Finding) -> str:
        """Its virtual alarm's ARN, in the subject's account and Region: the same check of two
        accounts' same-named tables is two alarms."""
        return alarm_arn(finding.region, finding.account, finding.alarm_name(self.prefix))

    def _entry(self, finding: Finding) -> dict[str, Any]:
        severity = SEVERITY[finding.check]
        description = format_tags(f"Backup check {finding.check} of {finding.subject}", severity=severity,
                                   remediation="verify-backups", runbook=RUNBOOK_SECTION)
        return {"Source": OPS_SOURCE, "DetailType": BACKUP_CHECK, "EventBusName": self.deps.settings.ops_bus_name,
                "Resources": [finding.subject] if finding.subject.startswith("arn:") else [],
                "Detail": json.dumps({"check": finding.check, "resource_arn": finding.subject,
                                      "alarm_name": finding.alarm_name(self.prefix), "state": finding.state,
                                      "reason": finding.reason[:1000], "observed_at": finding.observed_at,
                                      "description": description, "severity": severity,
                                      "account": finding.account, "region": finding.region})}
