"""The ledger: one DynamoDB table, the control plane's source of truth (keys: controlplane.keys).

Its primitives (one item, many items, a partition, an index listing, write-once with its outbox), and
the incidents and alarms: an alarm's record (dedup, its open incident), the year's incident counter,
the incident with its timeline, and the OUTBOX item each transition commits with what it must send
(ops-bus event, page), which the table's stream hands to the outbox relay.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from controlplane import keys
from controlplane.clock import isoformat, parse_timestamp
from controlplane.errors import ConcurrentUpdate, IncidentNotFound
from controlplane.events import INCIDENT_RESOLVED, INCIDENT_UPDATED, OPS_SOURCE
from controlplane.keys import Key
from controlplane.maintenance import Window, windows_of
from controlplane.repository import INDEX_QUERY, Repository, takes

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(_dynamo_safe(v)) for k, v in values.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: plain(_deserializer.deserialize(v)) for k, v in item.items()}


def _dynamo_safe(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _dynamo_safe(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_dynamo_safe(v) for v in value]
    return value


def plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


OUTBOX_RETENTION_SECONDS = 7 * 24 * 3600  # TTL: the stream has long delivered them by then


# What the outbox relay marks on an OUTBOX item once each step is sent (relay.py).
EVENT_SENT = "event_sent_at"
PAGE_SENT = "page_sent_at"


def resolved_fields(opened_at: str, resolved_at: str) -> dict[str, Any]:
    """What resolving an incident opened at `opened_at` sets on it, at `resolved_at`."""
    seconds = int((parse_timestamp(resolved_at) - parse_timestamp(opened_at)).total_seconds())
    return {"status": "RESOLVED", "resolved_at": resolved_at, "time_to_resolve_seconds": seconds}


def incident_id_for(year: int, number: int) -> str:
    """INC-2026-001: the year's counter, which the transaction that opens an incident advances."""
    return f"INC-{year}-{number:03d}"


def key_item(key: Key) -> dict[str, Any]:
    """A key as DynamoDB's Key parameter."""
    return to_item(key.as_dict())


def outbox_item(committed_at: str, outbox: dict[str, Any]) -> dict[str, Any]:
    expires = int(parse_timestamp(committed_at).timestamp()) + OUTBOX_RETENTION_SECONDS
    return keys.outbox(committed_at, outbox["transition_id"]).item({"expires_at": expires} | outbox)


def write_once(client: Any, table: str, key: Key, record: dict[str, Any], outbox: dict[str, Any],
               committed_at: str) -> bool:
    """Put `record` at `key` unless it exists, together with the OUTBOX item announcing it, in one
    transaction: a redelivered job records and announces once. False if it was there already."""
    try:
        client.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": to_item(key.item(record)), "ConditionExpression": keys.ABSENT}},
            {"Put": {"TableName": table, "Item": to_item(outbox_item(committed_at, outbox))}},
        ])
    except client.exceptions.TransactionCanceledException:
        return False
    return True


def write_item(client: Any, table: str, key: Key, fields: dict[str, Any]) -> None:
    """Put `fields` at `key`, replacing what was there."""
    client.put_item(TableName=table, Item=to_item(key.item(fields)))


def read_item(client: Any, table: str, key: Key) -> dict[str, Any] | None:
    """One item, consistently read, or None."""
    item = client.get_item(TableName=table, Key=key_item(key), ConsistentRead=True).get("Item")
    return from_item(item) if item else None


def read_items(client: Any, table: str, wanted: list[Key]) -> list[dict[str, Any]]:
    """Many items, consistently read: BatchGetItem in hundreds, unprocessed keys asked again."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(wanted), 100):
        request: dict[str, Any] = {table: {"Keys": list(map(key_item, wanted[start:start + 100])), "ConsistentRead": True}}
        while request:
            response = client.batch_get_item(RequestItems=request)
            found += map(from_item, response["Responses"].get(table, []))
            request = response.get("UnprocessedKeys") or {}
    return found


def read_partition(client: Any, table: str, partition: str, *, prefix: str | None = None, since: str | None = None,
                   newest_first: bool = False) -> list[dict[str, Any]]:
    """Every item of a partition (those whose sort key starts with `prefix`, or sorts at or after
    `since`), consistently read, in sort-key order."""
    condition, values = f"{keys.PK} = :p", {":p": partition}
    if prefix is not None:
        condition, values = condition + f" AND begins_with({keys.SK}, :prefix)", values | {":prefix": prefix}
    if since is not None:
        condition, values = condition + f" AND {keys.SK} >= :since", values | {":since": since}
    pages = client.get_paginator("query").paginate(
        TableName=table, ConsistentRead=True, KeyConditionExpression=condition,
        ExpressionAttributeValues=to_item(values), ScanIndexForward=not newest_first)
    return [from_item(item) for page in pages for item in page["Items"]]


def iter_listing(client: Any, table: str, listing: str, *, since: str | None = None, until: str | None = None,
                 newest_first: bool = False, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """The items listed in one index partition (keys.INCIDENTS, DECISIONS, WINDOWS) in time order,
    all or those listed in [since, until]; at most `limit` of them."""
    condition, values = f"{keys.INDEX_PK} = :p", {":p": listing}
    if since is not None and until is not None:
        condition += f" AND {keys.INDEX_SK} BETWEEN :since AND :until"
    elif since is not None:
        condition += f" AND {keys.INDEX_SK} >= :since"
    elif until is not None:
        condition += f" AND {keys.INDEX_SK} <= :until"
    values |= {name: bound for name, bound in ((":since", since), (":until", until)) if bound is not None}
    query: dict[str, Any] = {"TableName": table, "IndexName": keys.INDEX, "KeyConditionExpression": condition,
                             "ExpressionAttributeValues": to_item(values), "ScanIndexForward": not newest_first}
    if limit is not None:
        query["PaginationConfig"] = {"MaxItems": limit}
    for page in client.get_paginator("query").paginate(**query):
        yield from map(from_item, page["Items"])




@dataclass
class AlarmRecord:
    """What the ledger knows of one alarm; `version` guards every write (optimistic locking)."""

    alarm_arn: str
    version: int = 0
    state: str | None = None
    changed_at: str | None = None
    fingerprint: str | None = None
    open_incident: str | None = None
    open_incident_severity: str | None = None
    open_incident_opened_at: str | None = None
    last_resolved_incident: str | None = None
    last_resolved_at: str | None = None
    open_incident_suppressed: str | None = None  # the maintenance window that held back its page
    open_incident_held_back: str | None = None  # CloudWatch's own suppression or mute that held back its page
    # What a reopening needs of the last incident (flap damping), and when this alarm last paged.
    last_resolved_severity: str | None = None
    last_resolved_opened_at: str | None = None
    last_paged_at: str | None = None
    flaps: int = 0  # how often the open (or last) incident reopened
    open_incident_parent: str | None = None  # the storm parent its open incident is grouped under


def record_item(record: AlarmRecord) -> dict[str, Any]:
    """An alarm's record as its ledger item."""
    return keys.alarm(record.alarm_arn).item({k: v for k, v in asdict(record).items() if k != "alarm_arn"})


@dataclass
class AlarmRead:
    """Everything triage decides on, from one consistent read."""

    record: AlarmRecord
    sequence: int  # the year's last incident number
    caused: dict[str, Any] | None  # set when one of our own actions is setting this alarm off
    windows: list[Window]  # maintenance windows recorded as open (callers check expiry)
    burst: dict[str, Any] | None = None  # the latest burst of incidents on the alarm's component (storm grouping)
    account_burst: dict[str, Any] | None = None  # and across the account


@dataclass
class IncidentChange:
    """An update to an existing incident, applied in the same transaction as the alarm record."""

    incident_id: str
    set_fields: dict[str, Any]
    timeline_entry: dict[str, Any]
    adds: tuple[str, ...] = ()  # counters the change adds one to
    appends: dict[str, list[Any]] = field(default_factory=dict)  # lists the change appends to (created if absent)
    require_status_not: tuple[str, ...] = ()  # refuse the change while the incident has one of these
    followed_by: list[dict[str, Any]] = field(default_factory=list)  # further timeline entries


@dataclass
class Grouping:
    """Storm grouping's part of a transition: the component's and the account's burst markers (each
    written whole, guarded by its version), and the parent incident it opens or changes; the burst's
    first incident linked to a new parent, with its alarm's record (which then knows its parent, for
    its resolution)."""

    burst: dict[str, Any] | None  # the marker as it is to be written (None: unchanged)
    expected_version: int  # 0: no marker yet
    parent: dict[str, Any] | None = None
    parent_change: IncidentChange | None = None
    parent_open_children: int | None = None  # the count the parent change expects (a child's resolution)
    leader_change: IncidentChange | None = None
    leader_alarm_arn: str | None = None
    account: dict[str, Any] | None = None  # the account-wide burst's marker as it is to be written
    account_version: int = 0


@dataclass
class Transition:
    alarm: AlarmRecord
    expected_version: int
    new_incident: dict[str, Any] | None = None
    counter: tuple[int, int] | None = None  # (year, the last sequence number the new incidents take)
    numbers: int = 1  # how many numbers they take (a storm's parent takes one more)
    incident_change: IncidentChange | None = None
    outbox: dict[str, Any] | None = None  # {"transition_id", "event"?, "notification"?}
    committed_at: str = ""  # processing time: orders the outbox as the stream would
    records: list[dict[str, Any]] = field(default_factory=list)  # further items written with it
    grouping: Grouping | None = None


class Outbox(Repository):
    """The OUTBOX items: what each committed transition must send, and the relay's sent marks on
    them. Marking returns the marks the item then has, so the event's mark is also the read that
    tells whether the page went out already (no extra call before the event: the critical path)."""

    @takes("Query")
    def since(self, since: str) -> list[dict[str, Any]]:
        """OUTBOX items committed since `since` (kept 7 days), oldest first, with their sent marks."""
        return read_partition(self.client, self.table, keys.OUTBOX, since=since)

    @takes("GetItem")
    def marks(self, outbox: dict[str, Any]) -> set[str]:
        item = self.client.get_item(TableName=self.table, Key=key_item(keys.key_of(outbox)), ConsistentRead=True,
                                    ProjectionExpression=f"{EVENT_SENT}, {PAGE_SENT}").get("Item", {})
        return set(item)

    @takes("UpdateItem")
    def mark(self, outbox: dict[str, Any], mark: str, at: str, **also: str) -> set[str] | None:
        """Set `mark` (the first time only: a re-send keeps the first send's time) and `also`; the
        marks the item then has, or None when it has expired (TTL) since it was committed."""
        values = {":at": at} | {f":{key}": value for key, value in also.items()}
        try:
            response = self.client.update_item(
                TableName=self.table, Key=key_item(keys.key_of(outbox)),
                UpdateExpression=", ".join(["SET #m = if_not_exists(#m, :at)", *(f"#{k} = :{k}" for k in also)]),
                ConditionExpression=keys.PRESENT,
                ExpressionAttributeNames={"#m": mark} | {f"#{key}": key for key in also},
                ExpressionAttributeValues=to_item(values), ReturnValues="ALL_NEW")
        except self.client.exceptions.ConditionalCheckFailedException:
            return None
        return set(response.get("Attributes", {})) & {EVENT_SENT, PAGE_SENT}


class IncidentLedger(Repository):
    """Incidents and their alarms: each alarm's record (dedup, its open incident), the year's
    incident counter, the incident with its timeline, escalations, refused claims."""

    # --- triage ------------------------------------------------------------------------------

    @takes("BatchGetItem")
    def read_alarm(self, alarm_arn: str, year: int, component: str | None = None) -> AlarmRead:
        """The alarm's record, the year's last incident number, which of our own actions (if any)
        is setting this alarm off, the open maintenance windows and the latest burst of incidents on
        its component and across the account: in one consistent read."""
        # By ARN: another account's alarm of the same name was not set off by our action.
        wanted = {keys.alarm(alarm_arn): "record", keys.counter(year): "counter", keys.caused(alarm_arn): "caused",
                  keys.MAINTENANCE: "windows"}
        if component is not None:
            wanted |= {keys.burst(component): "burst", keys.ACCOUNT_BURST: "account_burst"}
        response = self.client.batch_get_item(
            RequestItems={self.table: {"Keys": list(map(key_item, wanted)), "ConsistentRead": True}})
        if response.get("UnprocessedKeys"):
            raise ConcurrentUpdate("ledger read throttled; retry")
        read = AlarmRead(AlarmRecord(alarm_arn=alarm_arn), 0, None, [])
        for raw in response["Responses"].get(self.table, []):
            item = from_item(raw)
            found = wanted[keys.key_of(item)]
            if found == "counter":
                read.sequence = int(item["seq"])
            elif found == "caused":
                read.caused = item
            elif found == "windows":
                read.windows = windows_of(item)
            elif found == "burst":
                read.burst = keys.public(item)
            elif found == "account_burst":
                read.account_burst = keys.public(item)
            else:
                fields: dict[str, Any] = {k: item.get(k) for k in AlarmRecord.__dataclass_fields__ if k != "alarm_arn"}
                read.record = AlarmRecord(alarm_arn=alarm_arn, **fields)
        return read

    @takes("BatchGetItem")
    def alarm_states(self, alarm_arns: list[str]) -> dict[str, str | None]:
        """The state last recorded of each alarm the ledger has seen (ARN → state)."""
        wanted = {keys.alarm(arn): arn for arn in alarm_arns}
        return {wanted[keys.key_of(item)]: item.get("state") for item in read_items(self.client, self.table, list(wanted))}

    @takes("PutItem", "UpdateItem")
    def apply(self, transition: Transition) -> None:
        """Commit a transition atomically, or raise ConcurrentUpdate if anything moved since the read."""
        alarm_item = record_item(transition.alarm)
        operations: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": to_item(alarm_item),
                    "ConditionExpression": f"{keys.ABSENT} OR version = :v",
                    "ExpressionAttributeValues": to_item({":v": transition.expected_version}),
                }
            }
        ]
        if transition.counter is not None:
            year, sequence = transition.counter
            operations.append(
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": to_item(keys.counter(year).item({"seq": sequence})),
                        "ConditionExpression": "attribute_not_exists(seq) OR seq = :previous",
                        "ExpressionAttributeValues": to_item({":previous": sequence - transition.numbers}),
                    }
                }
            )
        if transition.new_incident is not None:
            incident = transition.new_incident
            operations.append(
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": to_item(keys.incident(incident["id"]).item(
                            incident, listed_in=keys.INCIDENTS, listed_at=incident["opened_at"])),
                        "ConditionExpression": keys.ABSENT,
                    }
                }
            )
        if transition.incident_change is not None:
            operations.append({"Update": self._incident_update(transition.incident_change)})
        if transition.outbox is not None:
            operations.append({"Put": {"TableName": self.table, "Item": to_item(outbox_item(
                transition.committed_at, transition.outbox))}})
        operations += [{"Put": {"TableName": self.table, "Item": to_item(item)}} for item in transition.records]
        if transition.grouping is not None:
            operations += self._grouping(transition.grouping)
        try:
            self.client.transact_write_items(TransactItems=operations)
        except self.client.exceptions.TransactionCanceledException as error:
            raise ConcurrentUpdate(str(error)) from error

    def _grouping(self, grouping: Grouping) -> list[dict[str, Any]]:
        markers = [(keys.burst(grouping.burst["component"]), grouping.burst, grouping.expected_version)] \
            if grouping.burst is not None else []
        if grouping.account is not None:
            markers.append((keys.ACCOUNT_BURST, grouping.account, grouping.account_version))
        operations: list[dict[str, Any]] = [{"Put": {
            "TableName": self.table, "Item": to_item(key.item(marker)),
            "ConditionExpression": f"{keys.ABSENT} OR version = :v",
            "ExpressionAttributeValues": to_item({":v": version})}} for key, marker, version in markers]
        if grouping.parent is not None:
            operations.append({"Put": {
                "TableName": self.table, "ConditionExpression": keys.ABSENT,
                "Item": to_item(keys.incident(grouping.parent["id"]).item(
                    grouping.parent, listed_in=keys.INCIDENTS, listed_at=grouping.parent["opened_at"]))}})
        if grouping.parent_change is not None:
            update = self._incident_update(grouping.parent_change)
            if grouping.parent_open_children is not None:
                # Children resolving at once: each counts down from what it read, or reads again.
                update["ConditionExpression"] += " AND open_children = :open"
                update["ExpressionAttributeValues"] |= to_item({":open": grouping.parent_open_children})
            operations.append({"Update": update})
        if grouping.parent is not None and grouping.leader_change is not None and grouping.leader_alarm_arn is not None:
            operations.append({"Update": self._incident_update(grouping.leader_change)})
            # Its alarm's record learns the parent; the version moves so that a write planned on the
            # record before this one (a re-trigger) is refused and planned again.
            operations.append({"Update": {
                "TableName": self.table, "Key": key_item(keys.alarm(grouping.leader_alarm_arn)),
                "UpdateExpression": "SET open_incident_parent = :parent, version = version + :one",
                "ConditionExpression": "open_incident = :leader",
                "ExpressionAttributeValues": to_item({":parent": grouping.parent["id"], ":one": 1,
                                                      ":leader": grouping.leader_change.incident_id})}})
        return operations

    def _incident_update(self, change: IncidentChange) -> dict[str, Any]:
        names = {f"#f{i}": name for i, name in enumerate(change.set_fields)}
        values: dict[str, Any] = {f":f{i}": value for i, value in enumerate(change.set_fields.values())}
        assignments = [f"#f{i} = :f{i}" for i in range(len(change.set_fields))]
        assignments.append("timeline = list_append(timeline, :entry)")
        values[":entry"] = [change.timeline_entry, *change.followed_by]
        for i, (name, appended) in enumerate(change.appends.items()):
            names[f"#l{i}"] = name
            values |= {f":l{i}": appended, ":nothing": []}
            assignments.append(f"#l{i} = list_append(if_not_exists(#l{i}, :nothing), :l{i})")
        expression = "SET " + ", ".join(assignments)
        if change.adds:
            counters = {f"#a{i}": name for i, name in enumerate(change.adds)}
            expression += " ADD " + ", ".join(f"{placeholder} :one" for placeholder in counters)
            names |= counters
            values[":one"] = 1
        condition = keys.PRESENT
        if change.require_status_not:
            forbidden = [f":forbidden{i}" for i in range(len(change.require_status_not))]
            condition += f" AND NOT #status IN ({', '.join(forbidden)})"
            names["#status"] = "status"
            values |= dict(zip(forbidden, change.require_status_not, strict=True))
        update = {
            "TableName": self.table,
            "Key": key_item(keys.incident(change.incident_id)),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": to_item(values),
        }
        return update | ({"ExpressionAttributeNames": names} if names else {})

    # --- reading -------------------------------------------------------------------------------

    @takes("GetItem")
    def get_incident(self, incident_id: str) -> dict[str, Any]:
        incident = read_item(self.client, self.table, keys.incident(incident_id))
        if incident is None:
            raise IncidentNotFound(incident_id)
        return keys.public(incident)

    @takes(INDEX_QUERY)
    def iter_incidents(self, newest_first: bool = True, opened_since: str | None = None) -> Iterator[dict[str, Any]]:
        """Incidents in opening order (the index's sort key), all or those opened since a time."""
        for item in iter_listing(self.client, self.table, keys.INCIDENTS, since=opened_since,
                                 newest_first=newest_first):
            yield keys.public(item)

    @takes("UpdateItem", "PutItem")
    def escalate(self, incident_id: str, *, level: int, previous: int, to: str, entry: dict[str, Any], at: str,
                 resolution: bool, notification: dict[str, Any]) -> bool:
        """Record an escalation to `level` (paging `to`) with its page in the outbox, unless the
        incident moved meanwhile: acknowledged (an unacknowledged escalation), resolved, or escalated
        past `previous` already. False when it had."""
        values = {":level": level, ":entry": [entry], ":previous": previous, ":to": to, ":now": at}
        expression = ("SET escalation_level = :level, escalated_to = :to, escalated_at = :now, "
                      "timeline = list_append(timeline, :entry)")
        if resolution:
            # Past its resolution target: whatever its state, except resolved.
            expression += ", resolution_escalated_at = :now"
            condition, values[":status"] = "#s <> :status", "RESOLVED"
        else:
            # Unacknowledged: an acknowledgement that lands meanwhile wins.
            condition, values[":status"] = "#s = :status", "OPEN"
        try:
            self.client.transact_write_items(TransactItems=[
                {"Update": {"TableName": self.table, "Key": key_item(keys.incident(incident_id)),
                            "UpdateExpression": expression,
                            "ConditionExpression": f"{condition} AND (attribute_not_exists(escalation_level) "
                                                   "OR escalation_level = :previous)",
                            "ExpressionAttributeNames": {"#s": "status"}, "ExpressionAttributeValues": to_item(values)}},
                {"Put": {"TableName": self.table, "Item": to_item(outbox_item(at, {
                    "transition_id": f"escalation|{incident_id}|{level}", "notification": notification}))}},
            ])
        except self.client.exceptions.TransactionCanceledException:
            return False
        return True

    @takes("UpdateItem", "PutItem")
    def page_settled(self, incident_id: str, *, resolved_at: str, at: str, notification: dict[str, Any]) -> bool:
        """The held-back resolution page of a flapping incident, with its outbox item: only while it is
        still resolved at `resolved_at` and this resolution was not paged yet (False otherwise)."""
        try:
            self.client.transact_write_items(TransactItems=[
                {"Update": {"TableName": self.table, "Key": key_item(keys.incident(incident_id)),
                            "UpdateExpression": "SET settled_paged_at = :at, timeline = list_append(timeline, :entry)",
                            "ConditionExpression": "#s = :resolved AND resolved_at = :r "
                                                   "AND attribute_not_exists(settled_paged_at)",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": to_item({
                                ":at": at, ":resolved": "RESOLVED", ":r": resolved_at,
                                ":entry": [{"at": at, "event": "resolution-paged", "subject": notification["subject"]}]})}},
                {"Put": {"TableName": self.table, "Item": to_item(outbox_item(at, {
                    "transition_id": f"settled|{incident_id}|{resolved_at}", "notification": notification}))}},
            ])
        except self.client.exceptions.TransactionCanceledException:
            return False
        return True

    @takes("UpdateItem")
    def count_refused_claim(self, *, alarm_arn: str, reason: str, at: datetime) -> int:
        """Count a refused alarm claim in its hour (kept 30 days); how many that hour has now."""
        counted = self.client.update_item(
            TableName=self.table, Key=key_item(keys.suspicious(isoformat(at)[:13])), ReturnValues="UPDATED_NEW",
            UpdateExpression="ADD claims :one SET last_alarm = :alarm, last_reason = :reason, expires_at = :expires",
            ExpressionAttributeValues=to_item({":one": 1, ":alarm": alarm_arn[:300], ":reason": reason[:500],
                                               ":expires": int(at.timestamp()) + 30 * 86400}))
        return int(counted["Attributes"]["claims"]["N"])

    @takes("PutItem")
    def page_refused_claims(self, *, claims: int, at: datetime, notification: dict[str, Any]) -> bool:
        """The one page about an hour's refused claims (False: that hour has paged already)."""
        hour = isoformat(at)[:13]
        return write_once(self.client, self.table, keys.suspicious_paged(hour), {"claims": claims},
                          {"transition_id": f"suspicious|{hour}", "notification": notification}, isoformat(at))

    # --- operators (opsctl) ----------------------------------------------------------------------

    @takes("GetItem", "BatchGetItem", "PutItem", "UpdateItem")
    def annotate(self, incident_id: str, *, entry: dict[str, Any], set_fields: dict[str, Any],
                 ops_bus: str) -> dict[str, Any]:
        """A human's note or assignment: on the incident's timeline with the fields it sets, and
        announced as "Incident Updated" through the outbox, like every transition, so the status page
        and the reports follow. Never actionable: no remediation starts on a note."""
        at = str(entry["at"])

        def plan(incident: dict[str, Any]) -> _HumanChange:
            outbox = _announcement(incident, INCIDENT_UPDATED, at, ops_bus, {
                "update": entry["event"], "transition_id": f"{entry['event']}|{incident_id}|{at}|{entry['by']}"})
            return _HumanChange(IncidentChange(incident_id, set_fields, entry), outbox)

        return self._commit_human(incident_id, at, plan)

    @takes("GetItem", "BatchGetItem", "PutItem", "UpdateItem")
    def notify_stakeholders(self, incident_id: str, *, by: str, message: str, severity: str, at: str,
                            ops_bus: str) -> dict[str, Any]:
        """The runbook's "notify stakeholders": `message` (the incident report, and a human's words)
        paged to the contacts of `severity`, on the timeline and announced as "Incident Updated", so
        the status page and the reports follow."""

        def plan(incident: dict[str, Any]) -> _HumanChange:
            entry = {"at": at, "event": "stakeholders-notified", "by": by, "to": severity}
            outbox = _announcement(incident, INCIDENT_UPDATED, at, ops_bus, {
                "update": "stakeholders-notified", "transition_id": f"stakeholders|{incident_id}|{at}|{by}"},
                page=(f"Stakeholder update by {by}", "stakeholders", message), page_severity=severity)
            return _HumanChange(IncidentChange(incident_id, {"stakeholders_notified_at": at}, entry), outbox)

        return self._commit_human(incident_id, at, plan)

    @takes("GetItem", "BatchGetItem", "PutItem", "UpdateItem")
    def resolve(self, incident_id: str, *, by: str, reason: str, alarm_state: str | None, at: str,
                ops_bus: str) -> dict[str, Any]:
        """A human closes an incident (its alarm stuck in ALARM, or gone): resolved on the ledger with
        who, why and the alarm's state at that moment, the alarm's record freed of it (its next ALARM
        opens a new incident), announced and paged "Resolved" like a resolution triage makes."""

        def plan(incident: dict[str, Any]) -> _HumanChange | None:
            if incident["status"] == "RESOLVED":
                return None
            resolved = resolved_fields(incident["opened_at"], at) | {"resolved_by": by}
            change = IncidentChange(incident_id, resolved, {"at": at, "event": "resolved", "by": by, "reason": reason,
                                                            "alarm_state": alarm_state or "unknown"},
                                    require_status_not=("RESOLVED",))
            outbox = _announcement(incident | {"status": "RESOLVED"}, INCIDENT_RESOLVED, at, ops_bus, {
                "actionable": True, "remediation": incident.get("remediation") or "none", "resolved_by": by,
                "transition_id": f"resolve|{incident_id}|{by}"}, page=(
                    f"Resolved by {by}", "incident-resolved",
                    f"{incident_id} ({incident['alarm_name']}) was resolved by {by}: {reason}\nThe alarm was "
                    f"{alarm_state or 'unknown'} at that moment; its next ALARM opens a new incident."))
            grouping, parent_outbox = self._child_resolved(incident, by=by, at=at, ops_bus=ops_bus)
            return _HumanChange(change, outbox, lambda record: replace(
                record, open_incident=None, open_incident_severity=None, open_incident_opened_at=None,
                open_incident_suppressed=None, open_incident_held_back=None, open_incident_parent=None,
                last_resolved_incident=incident_id,
                # A human's resolution is final: the alarm's next ALARM opens a new incident, never reopens this.
                last_resolved_at=at, last_resolved_severity=None, last_resolved_opened_at=None),
                grouping=grouping, parent_outbox=parent_outbox)

        return self._commit_human(incident_id, at, plan)

    def _child_resolved(self, incident: dict[str, Any], *, by: str, at: str,
                        ops_bus: str) -> tuple[Grouping | None, dict[str, Any] | None]:
        """A storm's child resolved by a human counts down its parent, as its alarm clearing would
        (triage's storms.py); the last one resolves the parent too, announced and paged. Without
        this the parent would wait for an alarm that no longer has an incident, and keep escalating."""
        parent_id = incident.get("parent")
        if not parent_id:
            return None, None
        parent = self.get_incident(str(parent_id))
        if parent["status"] == "RESOLVED":
            return None, None
        remaining = int(parent["open_children"]) - 1
        fields: dict[str, Any] = {"open_children": remaining}
        entry = {"at": at, "event": "child-resolved", "incident": incident["id"], "alarm": incident.get("alarm_name"),
                 "by": by, "open_children": remaining}
        parent_outbox = None
        if remaining <= 0:
            fields |= resolved_fields(parent["opened_at"], at) | {"resolved_by": by}
            parent_outbox = _announcement(parent | {"status": "RESOLVED"}, INCIDENT_RESOLVED, at, ops_bus, {
                "resolved_by": by, "transition_id": f"resolve|{parent_id}|{by}"}, page=(
                    f"Storm over (resolved by {by})", "incident-resolved",
                    f"{parent_id} ({parent['alarm_name']}) is over: {by} resolved {incident['id']}, the last of its "
                    f"{len(parent.get('children', []))} incidents still open."))
        change = IncidentChange(str(parent_id), fields, entry, require_status_not=("RESOLVED",))
        return Grouping(None, 0, parent_change=change, parent_open_children=int(parent["open_children"])), parent_outbox

    @takes("GetItem", "BatchGetItem", "PutItem", "UpdateItem")
    def regrade(self, incident_id: str, *, severity: str, by: str, reason: str, at: str, ops_bus: str,
                response_minutes: int, resolve_minutes: int) -> dict[str, Any]:
        """A human re-grades an open incident up or down: its severity, and the deadlines that follow
        from it (acknowledge by, if not acknowledged yet; resolve by), on the ledger and the alarm's
        record (so its resolution pages at the new severity), paged once at the new severity and
        announced as "Incident Updated" with the new deadlines."""

        def plan(incident: dict[str, Any]) -> _HumanChange | None:
            if incident["status"] == "RESOLVED" or incident["severity"] == severity:
                return None
            opened = parse_timestamp(incident["opened_at"])
            fields = {"severity": severity, "resolve_due_at": isoformat(opened + timedelta(minutes=resolve_minutes))}
            if incident["status"] == "OPEN":
                fields["ack_due_at"] = isoformat(opened + timedelta(minutes=response_minutes))
            entry = {"at": at, "event": "regraded", "by": by, "reason": reason, "from": incident["severity"],
                     "to": severity}
            change = IncidentChange(incident_id, fields, entry, require_status_not=("RESOLVED",))
            outbox = _announcement(incident | fields, INCIDENT_UPDATED, at, ops_bus, {
                "update": "regraded", "previous_severity": incident["severity"],
                "transition_id": f"regrade|{incident_id}|{at}|{by}"} | {
                k: fields[k] for k in ("ack_due_at", "resolve_due_at") if k in fields}, page=(
                    f"Re-graded {incident['severity']} → {severity} by {by}", "incident-regraded",
                    f"{incident_id} ({incident['alarm_name']}) is now {severity}, re-graded from "
                    f"{incident['severity']} by {by}: {reason}"))
            return _HumanChange(change, outbox, lambda record: replace(record, open_incident_severity=severity))

        return self._commit_human(incident_id, at, plan)

    def _commit_human(self, incident_id: str, at: str,
                      plan: Callable[[dict[str, Any]], _HumanChange | None]) -> dict[str, Any]:
        """Commit a human's change with its announcement: with the alarm's record too when the change
        moves it and the record is still about this incident (optimistic lock, as triage's), else on
        the incident alone; read and plan again if triage moved the alarm meanwhile."""
        for _ in range(3):
            incident = self.get_incident(incident_id)
            planned = plan(incident)
            if planned is None:
                return incident  # nothing to change
            record = self.read_alarm(incident["alarm_arn"], parse_timestamp(at).year).record \
                if planned.moves_alarm is not None else None
            more = [outbox_item(at, planned.parent_outbox)] if planned.parent_outbox is not None else []
            try:
                if planned.moves_alarm is not None and record is not None and record.open_incident == incident_id:
                    moved = replace(planned.moves_alarm(record), version=record.version + 1)
                    self.apply(Transition(alarm=moved, expected_version=record.version, incident_change=planned.change,
                                          outbox=planned.outbox, committed_at=at, records=more, grouping=planned.grouping))
                else:
                    self.client.transact_write_items(TransactItems=[
                        {"Update": self._incident_update(planned.change)},
                        {"Put": {"TableName": self.table, "Item": to_item(outbox_item(at, planned.outbox))}},
                        *(self._grouping(planned.grouping) if planned.grouping is not None else []),
                        *({"Put": {"TableName": self.table, "Item": to_item(item)}} for item in more)])
            except (ConcurrentUpdate, self.client.exceptions.TransactionCanceledException):
                continue
            return self.get_incident(incident_id)
        raise ConcurrentUpdate(f"{incident_id}: the alarm kept changing meanwhile; try again")

    @takes("GetItem", "PutItem", "UpdateItem")
    def acknowledge(self, incident_id: str, by: str, at: str, ops_bus: str) -> dict[str, Any]:
        """Acknowledged by `by` (a human, through opsctl or PagerDuty); a storm's parent with its
        children (those that join later arrive acknowledged)."""
        incident = self._acknowledge_one(incident_id, by, at, ops_bus)
        for child in incident.get("children", []):
            self._acknowledge_one(child, f"{by} (with {incident_id})", at, ops_bus)
        return incident

    def _acknowledge_one(self, incident_id: str, by: str, at: str, ops_bus: str) -> dict[str, Any]:
        """Announced as "Incident Updated", so that PagerDuty and the status page follow.
        Acknowledging twice is harmless and never rewrites who acknowledged first; a resolved
        incident stays resolved."""

        def plan(incident: dict[str, Any]) -> _HumanChange | None:
            if incident["status"] != "OPEN":
                return None
            change = IncidentChange(
                incident_id=incident_id,
                set_fields={"status": "ACKNOWLEDGED", "acknowledged_at": at, "acknowledged_by": by},
                timeline_entry={"at": at, "event": "acknowledged", "by": by},
                require_status_not=("RESOLVED", "ACKNOWLEDGED"))
            outbox = _announcement(incident | {"status": "ACKNOWLEDGED"}, INCIDENT_UPDATED, at, ops_bus, {
                "update": "acknowledged", "acknowledged_by": by, "transition_id": f"acknowledged|{incident_id}|{at}"})
            return _HumanChange(change, outbox)

        return self._commit_human(incident_id, at, plan)

    @takes("UpdateItem")
    def record_pagerduty(self, incident_id: str, *, sent: str, entry: dict[str, Any], triggered: bool) -> None:
        """What PagerDuty took (or refused) of this incident: `sent` ("service:action") on its list,
        the entry on the timeline; `triggered`: PagerDuty accepted a trigger, and owns the
        acknowledgement escalation from now on (ours stands down)."""
        fields = {"pagerduty_triggered_at": entry["at"]} if triggered else {}
        self.client.update_item(**self._incident_update(IncidentChange(incident_id, fields, entry,
                                                                       appends={"pagerduty": [sent]})))


@dataclass
class _HumanChange:
    change: IncidentChange
    outbox: dict[str, Any]
    # How the change moves the alarm's record, when it does (only while that record is about this incident).
    moves_alarm: Callable[[AlarmRecord], AlarmRecord] | None = None
    grouping: Grouping | None = None  # a storm parent's part in it (a child resolved by a human)
    parent_outbox: dict[str, Any] | None = None  # the parent's own announcement, when the change resolves it


def _announcement(incident: dict[str, Any], detail_type: str, at: str, ops_bus: str, detail: dict[str, Any],
                  page: tuple[str, str, str] | None = None, page_severity: str | None = None) -> dict[str, Any]:
    """The outbox of a human's change: its ops-bus event (never actionable unless `detail` says so)
    and, with `page` = (what happened, kind, message), its page at the incident's severity (or
    `page_severity`: whose contacts it reaches)."""
    event = {"incident_id": incident["id"], "severity": incident["severity"], "status": incident["status"],
             "alarm_name": incident.get("alarm_name"), "alarm_arn": incident.get("alarm_arn"),
             "component": incident.get("component"), "remediation": "none", "actionable": False} | detail
    outbox: dict[str, Any] = {"transition_id": event["transition_id"], "event": {
        "Source": OPS_SOURCE, "DetailType": detail_type, "Detail": json.dumps(event, sort_keys=True),
        "EventBusName": ops_bus, "Time": at}}
    if page is not None:
        what, kind, message = page
        severity = page_severity or incident["severity"]
        outbox["notification"] = {
            "severity": severity, "subject": f"[{severity}] {incident['id']} {what}: {incident.get('alarm_name')}"[:100],
            "message": message, "attributes": {"kind": kind, "severity": severity, "incident": incident["id"]}}
    return outbox


