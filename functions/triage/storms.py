"""Storm grouping: incidents of one component that open within noise.group_window_seconds of each
other join one parent incident.

The first incident of a burst opens and pages as any other (a P0 never waits for company). The
second one opens the parent: the burst's first incident and itself become its children, and the
parent pages once, saying how many alarms and which. Later ones join it; the parent pages an
update at most every noise.update_interval_minutes (at once when its severity rises: it takes its
highest child's), and every page held back is on the child's timeline. The parent alone escalates
(the children's deadlines stand down) and is acknowledged for them; a child its band upgrades raises
the parent too. It resolves when its last open child clears (or a human resolves it), and only that
resolution pages. One entry on the status page: the parent's.

More than noise.storm_threshold incidents opening within the window across the account, whatever
their components, are a storm too: from the one past the threshold on, incidents that no component
burst takes join one account-wide parent (the ones before it paged on their own; its first page
names the latest of them).

What a burst is lives on one ledger item per component (keys.burst) and one for the account
(keys.ACCOUNT_BURST), read with the alarm and written in the same transaction as the incident,
guarded by their versions: alarms opening at once are serialised there, so a burst gets exactly one
parent."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from alarm_parsing import AlarmTransition
from controlplane.clock import isoformat, parse_timestamp
from controlplane.ledger import (
    AlarmRead,
    Grouping,
    IncidentChange,
    IncidentLedger,
    Transition,
    incident_id_for,
    resolved_fields,
)
from controlplane.runtime import Dependencies
from notification import render_storm

GROUPED = "storm grouping"  # what holds a grouped child's own page back
LISTED_ALARMS = 20  # a page names this many alarms; the parent's timeline has them all
ACROSS_THE_ACCOUNT = "several components"  # an account-wide storm's component
# A parent lists its children on itself (an item of at most 400 KB): past this many, the next
# incident starts a new burst (and the one after it a new parent), rather than a write that can
# never succeed.
MAX_CHILDREN = 500


@dataclass
class StormPlan:
    grouping: Grouping
    page: dict[str, Any] | None = None  # the parent's page, instead of the child's own
    hold_back: str | None = None  # why the child's own page is held back (no parent page instead)
    event_detail: dict[str, Any] | None = None  # what the child's ops event says of its parent


def plan(change: Transition, result: str, read: AlarmRead, transition: AlarmTransition,
         deps: Dependencies) -> StormPlan | None:
    if deps.policy.noise.group_window_seconds == 0 or transition.path == "declared":
        return None  # a human declaring an incident groups nothing
    if result == "opened" and change.new_incident is not None and change.new_incident["status"] == "OPEN":
        return _opening(change, read, deps)
    if result == "resolved":
        return _resolution(change, read, deps)
    if result == "upgraded":
        return _upgraded(change, read, deps)
    return None


def _opening(change: Transition, read: AlarmRead, deps: Dependencies) -> StormPlan:
    incident = change.new_incident
    assert incident is not None
    burst, account, ledger = read.burst, read.account_burst, deps.repository(IncidentLedger)
    version, account_version = (int(marker["version"]) if marker else 0 for marker in (burst, account))
    in_burst, in_storm = (_continues(marker, incident["opened_at"], deps) for marker in (burst, account))
    marker = {"component": incident["component"], "version": version + 1,
              "last_opened_at": _latest(burst, incident["opened_at"], in_burst)}
    recent = [*(account or {}).get("recent", []), incident["alarm_name"]] if in_storm else [incident["alarm_name"]]
    storm: dict[str, Any] = {
        "version": account_version + 1, "last_opened_at": _latest(account, incident["opened_at"], in_storm),
        "count": int(account["count"]) + 1 if in_storm and account else 1, "recent": recent[-LISTED_ALARMS:],
        "parent": account.get("parent") if in_storm and account else None}
    plan: StormPlan | None = None
    threshold = deps.policy.noise.storm_threshold
    if threshold and storm["parent"]:  # the account is in a storm: every opening joins it
        parent = ledger.get_incident(storm["parent"])
        if parent["status"] != "RESOLVED" and int(parent["occurrences"]) < MAX_CHILDREN:
            plan = _join(change, parent, None, version, deps)
    if plan is None and in_burst and burst and burst.get("parent"):
        parent = ledger.get_incident(burst["parent"])
        if parent["status"] != "RESOLVED" and int(parent["occurrences"]) < MAX_CHILDREN:  # (a human may have resolved it)
            plan = _join(change, parent, burst | marker, version, deps)
    if plan is None and in_burst and burst and burst.get("leader") and not burst.get("parent"):
        leader = ledger.get_incident(burst["leader"])
        if leader["status"] != "RESOLVED":
            plan = _start(change, leader, burst | marker, version, deps)
    if plan is None and threshold and storm["count"] > threshold:
        plan = _start(change, None, None, version, deps, storm=storm)
        storm["parent"] = plan.grouping.parent["id"] if plan.grouping.parent else None
    if plan is None:
        # The first of a burst (perhaps): it pages on its own and is remembered as the burst's leader.
        plan = StormPlan(Grouping(marker | {"leader": incident["id"], "parent": None}, version))
    plan.grouping.account, plan.grouping.account_version = storm, account_version
    return plan


def _continues(marker: dict[str, Any] | None, opened_at: str, deps: Dependencies) -> bool:
    """Whether an incident opening at `opened_at` belongs to the burst `marker` describes."""
    return marker is not None and abs(parse_timestamp(opened_at) - parse_timestamp(marker["last_opened_at"])) <= \
        timedelta(seconds=deps.policy.noise.group_window_seconds)


def _latest(marker: dict[str, Any] | None, opened_at: str, continues: bool) -> str:
    return max(opened_at, marker["last_opened_at"]) if continues and marker else opened_at


def _start(change: Transition, leader: dict[str, Any] | None, marker: dict[str, Any] | None, version: int,
           deps: Dependencies, storm: dict[str, Any] | None = None) -> StormPlan:
    """The second incident of a burst: a parent for it and the burst's first (`leader`). Or, across
    the account (`storm`: its marker), a parent for it alone, the incidents before it having paged."""
    incident = change.new_incident
    assert incident is not None and change.counter is not None
    policy, at = deps.policy, incident["opened_at"]
    year, sequence = change.counter
    change.counter, change.numbers = (year, sequence + 1), 2
    members = [leader, incident] if leader is not None else [incident]
    severity = min(member["severity"] for member in members)  # "P0" sorts first
    parent_id = incident_id_for(year, sequence + 1)
    children = [member["id"] for member in members]
    alarms = [member["alarm_name"] for member in members]
    component = incident["component"] if storm is None else ACROSS_THE_ACCOUNT
    count = len(children) if storm is None else int(storm["count"])
    opened_at = parse_timestamp(at)
    parent = {
        "id": parent_id, "kind": "storm", "severity": severity, "status": "OPEN",
        "alarm_arn": policy.alarm_arn(f"{policy.prefix}-storm"), "alarm_name": f"storm on {component}",
        "account": incident["account"], "region": incident["region"], "component": component,
        "impact": f"{count} alarms on {component} within {policy.noise.group_window_seconds} s: one cause is likely",
        "classified_by": "storm", "remediation": None, "reason": "storm grouping", "opened_at": at,
        "last_seen_at": at, "occurrences": len(children), "config_version": policy.config_version,
        "children": children, "open_children": len(children), "alarms": alarms,
        "ack_due_at": isoformat(policy.ack_due(severity, opened_at)),
        "resolve_due_at": isoformat(policy.resolve_due(severity, opened_at)),
        "last_paged_at": isoformat(deps.clock.now()),
        "timeline": [{"at": member["opened_at"], "event": "child-joined", "incident": member["id"],
                      "alarm": member["alarm_name"], "severity": member["severity"]} for member in members],
    }
    grouped = {"at": at, "event": "grouped", "parent": parent_id,
               "reason": f"{count} alarms on {component} within {policy.noise.group_window_seconds} s: "
                         f"{parent_id} pages and escalates for them"}
    incident["parent"] = parent_id
    incident["timeline"].append(grouped)
    change.alarm.open_incident_parent = parent_id
    # An account-wide storm's page names the latest alarms, most of which paged on their own.
    subject, message = render_storm("Storm", parent, alarms if storm is None else storm["recent"], count, policy)
    return StormPlan(
        Grouping(marker | {"parent": parent_id} if marker is not None else None, version, parent=parent,
                 leader_change=IncidentChange(leader["id"], {"parent": parent_id}, grouped,
                                              require_status_not=("RESOLVED",)) if leader is not None else None,
                 leader_alarm_arn=leader["alarm_arn"] if leader is not None else None),
        page=_page(parent, subject, message, "incident-storm"),
        event_detail={"parent": parent_id, "arm_parent": True, "parent_ack_due_at": parent["ack_due_at"],
                      "parent_resolve_due_at": parent["resolve_due_at"], "parent_severity": severity})


def _join(change: Transition, parent: dict[str, Any], marker: dict[str, Any] | None, version: int,
          deps: Dependencies) -> StormPlan:
    """A later incident of the burst joins its open parent: an update page when due or when it
    raises the parent's severity, else its page is held back (on its timeline)."""
    incident = change.new_incident
    assert incident is not None
    policy, now = deps.policy, deps.clock.now()
    at, parent_id = incident["opened_at"], parent["id"]
    severity = min(parent["severity"], incident["severity"])
    count = int(parent.get("occurrences", 0)) + 1
    alarms = [*parent.get("alarms", []), incident["alarm_name"]]
    due = parse_timestamp(parent["last_paged_at"]) + timedelta(minutes=policy.noise.update_interval_minutes)
    pages = severity != parent["severity"] or now >= due
    set_fields: dict[str, Any] = {"severity": severity, "last_seen_at": at}
    detail: dict[str, Any] = {"parent": parent_id}
    if pages:
        set_fields["last_paged_at"] = isoformat(now)
    if severity != parent["severity"]:
        # Its acknowledgement is due sooner now: escalation arms the parent's new deadline.
        set_fields["ack_due_at"] = isoformat(policy.ack_due(severity, now))
        detail |= {"arm_parent": True, "parent_ack_due_at": set_fields["ack_due_at"],
                   "parent_resolve_due_at": parent["resolve_due_at"], "parent_severity": severity}
    change_of_parent = IncidentChange(
        parent_id, set_fields, {"at": at, "event": "child-joined", "incident": incident["id"],
                                "alarm": incident["alarm_name"], "severity": incident["severity"]},
        adds=("occurrences", "open_children"), appends={"children": [incident["id"]], "alarms": [incident["alarm_name"]]},
        require_status_not=("RESOLVED",))
    incident["parent"] = parent_id
    incident["timeline"].append({"at": at, "event": "grouped", "parent": parent_id,
                                 "reason": f"joined the storm on {parent['component']} ({count} alarms)"})
    if parent["status"] == "ACKNOWLEDGED":  # acknowledged for all of them, those to come included
        incident |= {"status": "ACKNOWLEDGED", "acknowledged_at": parent["acknowledged_at"],
                     "acknowledged_by": f"{parent.get('acknowledged_by')} (with {parent_id})"}
    change.alarm.open_incident_parent = parent_id
    grouping = Grouping(marker, version, parent_change=change_of_parent)
    if not pages:
        return StormPlan(grouping, hold_back=f"{parent_id} (a storm of {count} alarms) pages for it; next update "
                                             f"due {isoformat(due)}", event_detail=detail)
    kind = f"Storm upgraded to {severity}" if severity != parent["severity"] else "Storm update"
    shown = parent | {"severity": severity, "occurrences": count}
    subject, message = render_storm(kind, shown, alarms[:LISTED_ALARMS], count, policy)
    return StormPlan(grouping, page=_page(shown, subject, message, "incident-storm-update"), event_detail=detail)


def _upgraded(change: Transition, read: AlarmRead, deps: Dependencies) -> StormPlan | None:
    """A child's band raised its severity: the parent takes it when that is higher, and pages at once
    (as when a more severe child joins); else the parent speaks for it already and the child's own
    upgrade page is held back."""
    parent_id = read.record.open_incident_parent
    if parent_id is None or change.incident_change is None:
        return None
    parent = deps.repository(IncidentLedger).get_incident(parent_id)
    if parent["status"] == "RESOLVED":
        return None
    child, severity = change.incident_change.incident_id, str(change.incident_change.set_fields["severity"])
    if parent["severity"] <= severity:  # "P0" sorts first: the parent is as severe already
        return StormPlan(Grouping(None, 0), hold_back=f"{parent_id} (the storm) is {parent['severity']} already",
                         event_detail={"parent": parent_id})
    now = deps.clock.now()
    at, ack_due = isoformat(now), isoformat(deps.policy.ack_due(severity, now))
    parent_change = IncidentChange(parent_id, {"severity": severity, "ack_due_at": ack_due, "last_paged_at": at},
                                   {"at": at, "event": "child-upgraded", "incident": child, "severity": severity},
                                   require_status_not=("RESOLVED",))
    shown = parent | {"severity": severity}
    count = int(parent.get("occurrences", 0))
    subject, message = render_storm(f"Storm upgraded to {severity}", shown, list(parent.get("alarms", []))[:LISTED_ALARMS],
                                    count, deps.policy)
    return StormPlan(Grouping(None, 0, parent_change=parent_change),
                     page=_page(shown, subject, message, "incident-storm-update"),
                     event_detail={"parent": parent_id, "arm_parent": True, "parent_ack_due_at": ack_due,
                                   "parent_resolve_due_at": parent["resolve_due_at"], "parent_severity": severity})


def _resolution(change: Transition, read: AlarmRead, deps: Dependencies) -> StormPlan | None:
    """A child clears: its own page is held back; the last one to clear resolves the parent, which
    pages. The burst's leader clearing before any parent formed is simply no longer a leader."""
    record, burst, account = read.record, read.burst, read.account_burst
    incident_id = str(record.open_incident)
    parent_id = record.open_incident_parent
    change.alarm.open_incident_parent = None
    version, account_version = (int(marker["version"]) if marker else 0 for marker in (burst, account))
    if parent_id is None:
        if burst is not None and burst.get("leader") == incident_id and not burst.get("parent"):
            return StormPlan(Grouping(burst | {"version": version + 1, "leader": None}, version))
        return None
    parent = deps.repository(IncidentLedger).get_incident(parent_id)
    if parent["status"] == "RESOLVED":
        return None  # a human resolved the storm: its children's resolutions page as their own
    policy, now = deps.policy, deps.clock.now()
    at = isoformat(now)
    remaining = int(parent["open_children"]) - 1
    entry = {"at": at, "event": "child-resolved", "incident": incident_id, "alarm": read.record.alarm_arn.split(":alarm:")[-1],
             "open_children": remaining}
    fields: dict[str, Any] = {"open_children": remaining}
    marker = storm = None
    if remaining <= 0:
        fields |= resolved_fields(parent["opened_at"], at)
        # Over: the burst (or the account's storm) it was will not take anyone in again.
        if burst is not None and burst.get("parent") == parent_id:
            marker = burst | {"version": version + 1, "parent": None, "leader": None}
        if account is not None and account.get("parent") == parent_id:
            storm = account | {"version": account_version + 1, "parent": None}
    parent_change = IncidentChange(parent_id, fields, entry, require_status_not=("RESOLVED",))
    grouping = Grouping(marker, version, parent_change=parent_change,
                        parent_open_children=int(parent["open_children"]), account=storm, account_version=account_version)
    if remaining > 0:
        return StormPlan(grouping, hold_back=f"{parent_id} resolves when its last alarm clears ({remaining} still open)")
    resolved = parent | fields
    subject, message = render_storm("Storm over", resolved, list(parent.get("alarms", []))[:LISTED_ALARMS],
                                    int(parent.get("occurrences", 0)), policy)
    return StormPlan(grouping, page=_page(resolved, subject, message, "incident-resolved"))


def _page(parent: dict[str, Any], subject: str, message: str, kind: str) -> dict[str, Any]:
    return {"severity": parent["severity"], "subject": subject, "message": message,
            "attributes": {"kind": kind, "severity": parent["severity"], "incident": parent["id"]}}


def announce(event: dict[str, Any], detail: dict[str, Any]) -> None:
    """Say in the child's ops event what it is grouped under (escalation stands down for the child,
    and arms the parent's deadlines when the event carries them: `arm_parent`)."""
    event["Detail"] = json.dumps(json.loads(event["Detail"]) | detail, sort_keys=True)
