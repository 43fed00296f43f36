"""The ledger's key schema: every item's (pk, sk) and the index's partitions, spelled here and only here.

One DynamoDB table, `pk` / `sk`, with one global secondary index (`gsi1pk` / `gsi1sk`) for the
time-ordered listings. docs/architecture.md has the table of what each item holds and who writes it;
the stack's Ledger construct declares the same attribute names (TABLE_KEYS).
"""

from __future__ import annotations

from typing import Any, NamedTuple

PK, SK = "pk", "sk"
INDEX, INDEX_PK, INDEX_SK = "gsi1", "gsi1pk", "gsi1sk"
TABLE_KEYS = {"partition": PK, "sort": SK, "index_partition": INDEX_PK, "index_sort": INDEX_SK}
# Conditions on an item's existence, for conditional writes.
ABSENT, PRESENT = f"attribute_not_exists({PK})", f"attribute_exists({PK})"

# The index's partitions: each lists its items by time (gsi1sk).
INCIDENTS, DECISIONS, WINDOWS = "INCIDENTS", "DECISIONS", "WINDOWS"

# Partitions read as a whole (queried by pk).
OUTBOX, SUSPICIOUS, BUDGET, CONTROL, BASELINE, DRILL = "OUTBOX", "SUSPICIOUS", "BUDGET", "CONTROL", "BASELINE", "DRILL"
COVERAGE = "COVERAGE"
DEPLOY_VERSION_PREFIX = "V#"  # a target's deployment history, in the target's DEPLOY# partition


class Key(NamedTuple):
    pk: str
    sk: str

    def as_dict(self) -> dict[str, str]:
        return {PK: self.pk, SK: self.sk}

    def item(self, fields: dict[str, Any], *, listed_in: str | None = None, listed_at: str | None = None) -> dict[str, Any]:
        """The item at this key holding `fields`; listed in the index partition `listed_in` at `listed_at`."""
        listing = {INDEX_PK: listed_in, INDEX_SK: listed_at} if listed_in is not None else {}
        return self.as_dict() | listing | fields


def key_of(item: dict[str, Any]) -> Key:
    return Key(str(item[PK]), str(item[SK]))


def public(item: dict[str, Any]) -> dict[str, Any]:
    """An item without its keys: what callers read."""
    return {k: v for k, v in item.items() if k not in (PK, SK, INDEX_PK, INDEX_SK)}


# --- alarms and incidents (triage) ----------------------------------------------------------------

def alarm(arn: str) -> Key:
    """The last transition seen of one alarm (dedup) and its open incident."""
    return Key(f"ALARM#{arn}", "STATE")


def counter(year: int) -> Key:
    """The year's incident number sequence."""
    return Key("COUNTER", f"INCIDENT#{year}")


def incident(incident_id: str) -> Key:
    return Key(f"INCIDENT#{incident_id}", "META")


def outbox(committed_at: str, transition_id: str) -> Key:
    """What a committed transition must send; the stream hands it to the outbox relay."""
    return Key(OUTBOX, f"{committed_at}#{transition_id}")


def committed_at(outbox_item: dict[str, Any]) -> str:
    """When an OUTBOX item was committed: the first part of its sort key."""
    return key_of(outbox_item).sk.split("#", 1)[0]


def suspicious(hour: str) -> Key:
    """Refused claims in one hour."""
    return Key(SUSPICIOUS, hour)


def suspicious_paged(hour: str) -> Key:
    """The one page about an hour's refused claims."""
    return Key(SUSPICIOUS, f"{hour}#paged")


def caused(alarm_arn: str) -> Key:
    """An alarm one of our own actions sets off (it joins the incident, no page)."""
    return Key(f"CAUSED#{alarm_arn}", "ACTION")


# --- remediation: decisions and guardrail state ---------------------------------------------------

def decision(decision_id: str) -> Key:
    return Key(f"DECISION#{decision_id}", "META")


def target(name: str) -> Key:
    """A remediated target's last action and recent toggles, and the action under way on it."""
    return Key(f"TARGET#{name}", "STATE")


def budget(at: str) -> Key:
    """The action budget of the hour of `at` (an ISO timestamp)."""
    return Key(BUDGET, at[:13])


KILL_SWITCH = Key(CONTROL, "KILL_SWITCH")


def pause(capability: str) -> Key:
    return Key(CONTROL, f"PAUSE#{capability}")


def control(capability: str | None) -> Key:
    """A capability's pause, or (None) the kill switch."""
    return KILL_SWITCH if capability is None else pause(capability)


def request(request_id: str) -> Key:
    """A human's request, which the `manual` task a function receives must name."""
    return Key(f"REQUEST#{request_id}", "META")


def baseline(traffic_alarm: str) -> Key:
    return Key(BASELINE, traffic_alarm)


# --- deployments (rollback) -----------------------------------------------------------------------

def deployments(target_name: str) -> str:
    """The partition of one target's deployments: its HEAD and its history."""
    return f"DEPLOY#{target_name}"


def deploy_head(target_name: str) -> Key:
    return Key(deployments(target_name), "HEAD")


def deploy_version(target_name: str, at: str, version: str) -> Key:
    return Key(deployments(target_name), f"{DEPLOY_VERSION_PREFIX}{at}#{version}")


def quarantined(target_name: str) -> str:
    """The partition of one target's quarantined versions."""
    return f"QUARANTINE#{target_name}"


def quarantine(target_name: str, version: str) -> Key:
    return Key(quarantined(target_name), version)


# --- maintenance windows (calendar) ---------------------------------------------------------------

def burst(component: str) -> Key:
    """The latest burst of incidents opening on one component (storm grouping), read with its alarms."""
    return Key(f"GROUP#{component}", "BURST")


ACCOUNT_BURST = Key("GROUP", "ACCOUNT")  # the latest burst across every component (noise.storm_threshold)


MAINTENANCE = Key("MAINTENANCE", "ACTIVE")  # the open windows, read with every alarm


def window(window_id: str) -> Key:
    return Key(f"WINDOW#{window_id}", "META")


def suppressions(window_id: str) -> str:
    """The partition of the pages one window held back."""
    return f"SUPPRESSED#{window_id}"


def suppressed(window_id: str, at: str, alarm_name: str, kind: str) -> Key:
    return Key(suppressions(window_id), f"{at}#{alarm_name}#{kind}")


def checklist(name: str, scheduled_at: str) -> Key:
    return Key(f"CHECKLIST#{name}", scheduled_at)


# --- reports, backups, drills ----------------------------------------------------------------------

def report(period: str, day: str) -> Key:
    return Key(f"REPORT#{period}", day)


BACKUP_STATUS = Key("BACKUP", "STATUS")


def restore(resource_arn: str) -> Key:
    """The last validated restore of a resource."""
    return Key(f"RESTORE#{resource_arn}", "LATEST")


def restore_job(job_id: str) -> Key:
    """A restore test we started: only ours are validated and deleted."""
    return Key(f"RESTORE_JOB#{job_id}", "META")


def drill(occurrence: str) -> Key:
    return Key(DRILL, occurrence)


# --- organization coverage ------------------------------------------------------------------------

COVERAGE_CHECK_PREFIX = "CHECK#"


def coverage(account: str, region: str) -> Key:
    """One member account × Region's spoke: its last heartbeat (partition COVERAGE)."""
    return Key(COVERAGE, f"{account}#{region}")


def coverage_check(account: str, region: str) -> Key:
    """One member account × Region as the last coverage check judged it (partition COVERAGE)."""
    return Key(COVERAGE, f"{COVERAGE_CHECK_PREFIX}{account}#{region}")


# --- PagerDuty ------------------------------------------------------------------------------------

def webhook_delivery(event_id: str) -> Key:
    """A PagerDuty webhook event taken (its redeliveries find it)."""
    return Key(f"WEBHOOK#{event_id}", "DELIVERY")
