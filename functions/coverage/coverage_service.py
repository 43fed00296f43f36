"""Coverage of the organization (README: organization). Every member account × Region the config
watches must be heard from (its spoke's heartbeat, which travels the same forwarding path as its
alarms) and reachable (its spoke's remediation role assumable by the hub). A pair that is not is a
blind spot: the virtual alarm `{prefix}-blind-spot` in that account and Region goes to ALARM, a P1
through triage like any alarm (dedup, storm grouping, escalation), and back to OK once the pair is
heard from and reachable again.

Heartbeats are believed for their envelope's account and Region, which EventBridge sets from the
putting principal: a member account can speak only for itself. A heartbeat of a pair the config
does not watch is counted on its record and believed for nothing."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from controlplane.alarm_tags import format_tags
from controlplane.clock import isoformat, parse_timestamp
from controlplane.errors import MalformedEvent, Unreachable, is_transient
from controlplane.events import COVERAGE_CHECK, OPS_SOURCE, SPOKE_HEARTBEAT, SPOKE_SOURCE, blind_spot_alarm
from controlplane.ledger import IncidentLedger
from controlplane.policy import alarm_arn
from controlplane.records import Coverage
from controlplane.remediation import action_note
from controlplane.runtime import Dependencies

# Roles assumed per check: 100 accounts' every 5 minutes, so 500 accounts' every 25 (a failing one
# every time), in about 1.5 s of the function's 30.
ROLE_CHECKS_PER_RUN = 100
ROLE_NOT_CHECKED = "not checked yet"  # its turn has not come: no finding either way
# The role check's session: CloudTrail in each member account shows the hub's look as this.
ROLE_CHECK_SESSION = "coverage-check"


class CoverageService:
    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps
        self.policy = deps.policy
        self.organization = deps.policy.organization
        self.coverage = deps.repository(Coverage)

    def handle(self, event: Any) -> dict[str, Any]:
        """What the function reports: a heartbeat taken (a check line) or refused (a rejected
        outcome, with why); a coverage check's summary line, with every pair's verdict."""
        if not isinstance(event, dict):
            raise MalformedEvent("event is not an object")
        if event.get("source") == SPOKE_SOURCE and event.get("detail-type") == SPOKE_HEARTBEAT:
            note = self.heartbeat(event)
            if note["result"] == "rejected":
                return {"outcomes": [{"result": "rejected", "reason": f"{note['target']}: {note['reason']}"}]}
            return {"checks": [note | {"result": "executed", "reason": f"{note['target']}: {note['reason']}"}]}
        if event.get("task") == "coverage-check":
            pairs = self.check()
            blind = [pair for pair in pairs if pair["result"] == "blind-spot"]
            summary = (f"{len(pairs) - len(blind)} of {len(pairs)} account × Region pairs watched"
                       + "".join(f"; blind spot: {pair['target']}: {pair['reason']}" for pair in blind))
            return {"checks": [{"type": "coverage-check", "result": "executed", "reason": summary}], "pairs": pairs}
        raise MalformedEvent(f"not a coverage event: source={event.get('source')!r} task={event.get('task')!r}")

    def heartbeat(self, event: dict[str, Any]) -> dict[str, Any]:
        try:
            account, region = str(event["account"]), str(event["region"])
            at = isoformat(parse_timestamp(str(event["time"])))
        except (KeyError, ValueError) as error:
            raise MalformedEvent(f"heartbeat without its account, Region or time: {error}") from error
        detail = event.get("detail")
        version = str((detail.get("spoke_version") if isinstance(detail, dict) else None) or "unknown")[:64]
        where = self.organization.where(account, region)
        watched = self.organization.watches(account, region)
        self.coverage.heartbeat(account, region, at, version, configured=watched)
        if not watched:
            return action_note("heartbeat", where, "rejected",
                               "not an account × Region of organization.accounts and .regions: counted, not believed")
        return action_note("heartbeat", where, "recorded", f"spoke {version} at {at}")

    def check(self) -> list[dict[str, Any]]:
        """Judge every configured pair, record the verdicts (for `opsctl org status`) and send triage
        the blind spots that opened or closed since its record."""
        now = self.deps.clock.now()
        quiet = timedelta(minutes=self.organization.quiet_minutes)
        heard = {(pair["account"], pair["region"]): pair for pair in self.coverage.pairs()}
        roles = self._roles(heard, isoformat(now))
        verdicts: dict[tuple[str, str], str | None] = {}
        for account in self.organization.accounts:
            for region in self.organization.regions:
                last = heard.get((account, region), {}).get("last_heartbeat_at")
                problems = [problem for problem in (
                    "no heartbeat ever received (no spoke there, or its forwarding is broken)" if last is None else
                    f"no heartbeat since {last[:16]} UTC" if now - parse_timestamp(last) > quiet else None,
                    None if roles[account][0] in ("ok", ROLE_NOT_CHECKED) else roles[account][0]) if problem]
                verdicts[account, region] = "; ".join(problems) or None
        self.coverage.checked({pair: {"checked_at": isoformat(now), "role_check": roles[pair[0]][0],
                                      "role_checked_at": roles[pair[0]][1], "state": "ALARM" if reason else "OK",
                                      "reason": reason or "watched"} for pair, reason in verdicts.items()})
        sent = self._send_changes(verdicts, isoformat(now))
        return [action_note("coverage-check", self.organization.where(account, region),
                            "blind-spot" if reason else "watched", reason or "heard from, role assumable",
                            sent=(account, region) in sent)
                for (account, region), reason in verdicts.items()]

    def _roles(self, heard: dict[tuple[str, str], dict[str, Any]], now: str) -> dict[str, tuple[str, str]]:
        """Each account's role check ("ok" or why not) and when it was made. A run assumes at most
        ROLE_CHECKS_PER_RUN roles (500 accounts would not fit the function's time otherwise): the
        never-checked and failing ones first, then the longest unchecked; the others keep their last."""
        last = {account: (str(item["role_check"]), str(item["role_checked_at"]))
                for (account, _), item in heard.items() if item.get("role_checked_at")}
        due = sorted(self.organization.accounts, key=lambda account: (
            account in last and last[account][0] == "ok", last.get(account, ("", ""))[1]))[:ROLE_CHECKS_PER_RUN]
        roles = {account: (ROLE_NOT_CHECKED, "") for account in self.organization.accounts} | last
        for account in due:
            try:
                roles[account] = (self._role_check(account) or "ok", now)
            except ClientError as error:
                if not is_transient(error):
                    raise
                # STS said "not now": this account keeps its last result until the next check.
        return roles

    def _role_check(self, account: str) -> str | None:
        """Why the hub cannot act in `account` (None: its spoke role is assumable). Asked every time,
        never answered from credentials a warm container still holds."""
        try:
            self.deps.assume(account, ROLE_CHECK_SESSION)
        except Unreachable as error:
            return f"its role {error.role} cannot be assumed ({error.code})"
        return None

    def _send_changes(self, verdicts: dict[tuple[str, str], str | None], observed_at: str) -> set[tuple[str, str]]:
        """The pairs whose blind spot changed against triage's record, sent as "Coverage Check"
        events (a pair never in ALARM needs no OK). Sent again after a crash: triage dedups."""
        name = blind_spot_alarm(self.policy.prefix)
        arns = {pair: alarm_arn(pair[1], pair[0], name) for pair in verdicts}
        recorded = self.deps.repository(IncidentLedger).alarm_states(list(arns.values()))
        changed = [pair for pair, reason in verdicts.items()
                   if (recorded.get(arns[pair]) or "OK") != ("ALARM" if reason else "OK")]
        self.deps.put_on_ops_bus([self._entry(pair, verdicts[pair], name, observed_at) for pair in changed],
                                 "coverage findings")
        return set(changed)

    def _entry(self, pair: tuple[str, str], reason: str | None, name: str, observed_at: str) -> dict[str, Any]:
        account, region = pair
        where = self.organization.where(account, region)
        return {"Source": OPS_SOURCE, "DetailType": COVERAGE_CHECK, "EventBusName": self.deps.settings.ops_bus_name,
                "Resources": [], "Detail": json.dumps({
                    "check": "coverage", "alarm_name": name, "state": "ALARM" if reason else "OK",
                    "reason": f"Blind spot: account {where}: {reason}" if reason else f"{where} is watched again",
                    "observed_at": observed_at, "account": account, "region": region,
                    "description": format_tags(f"Coverage of {where}", severity="P1", runbook="standard-alert-investigation")})}
