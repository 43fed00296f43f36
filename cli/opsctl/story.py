"""An incident's whole story for `opsctl incident show`: its ledger timeline, every page its
transitions sent or still owe (the outbox relay's sent marks; OUTBOX items are kept 7 days) and every
decision the automation or a human made about it, skips included."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from controlplane import keys
from controlplane.clock import isoformat, parse_timestamp
from controlplane.config import AlarmSpec, ControlPlaneConfig
from controlplane.guardrails import Guardrails
from controlplane.ledger import EVENT_SENT, PAGE_SENT, Outbox
from controlplane.metric_values import values_by_period
from controlplane.runtime import Dependencies


def incident_story(deps: Dependencies, incident: dict[str, Any]) -> dict[str, Any]:
    since = incident["opened_at"][:10]  # the day it opened: transitions commit after their alarm changed
    return incident | {"pages": _pages(deps.repository(Outbox), incident["id"], since),
                       "decisions": [_decision(d) for d in deps.repository(Guardrails).decisions(since)
                                     if d.get("incident") == incident["id"]]}


def _pages(outbox: Outbox, incident_id: str, since: str) -> list[dict[str, Any]]:
    pages = []
    for item in outbox.since(since):
        note = item.get("notification")
        if note is None or _incident_of(item) != incident_id:
            continue
        pages.append({"committed_at": keys.committed_at(item), "severity": note["severity"],
                      "subject": note["subject"], "kind": note.get("attributes", {}).get("kind"),
                      "sent_at": item.get(PAGE_SENT), "event_sent_at": item.get(EVENT_SENT)})
    return pages


def _incident_of(item: dict[str, Any]) -> str | None:
    attributes = item["notification"].get("attributes", {})
    if attributes.get("incident"):
        return str(attributes["incident"])
    detail = json.loads((item.get("event") or {}).get("Detail") or "{}")
    return detail.get("incident_id")


def _decision(record: dict[str, Any]) -> dict[str, Any]:
    return {key: record.get(key) for key in ("id", "decided_at", "action", "target", "verdict", "result", "reason",
                                             "decided_by", "check")}


def metric_around(cloudwatch: Any, config: ControlPlaneConfig, incident: dict[str, Any], now: datetime,
                  margin: timedelta = timedelta(hours=1)) -> dict[str, Any] | None:
    """The incident's alarm metric from `margin` before it opened to `margin` after it ended (or now);
    None when the alarm is not one the config defines."""
    spec = next((alarm for alarm in config.alarms if alarm.name == incident.get("alarm_name")), None)
    if spec is None:
        return None
    end = parse_timestamp(incident["resolved_at"]) if incident.get("resolved_at") else now
    return metric_series(cloudwatch, spec, parse_timestamp(incident["opened_at"]) - margin, min(end + margin, now))


def metric_series(cloudwatch: Any, spec: AlarmSpec, start: datetime, end: datetime) -> dict[str, Any]:
    """An alarm's metric over [start, end], at the alarm's own period and statistic:
    {"label", "threshold", "points": [(iso time, value), …]}."""
    if spec.expression is not None:
        values = sorted((isoformat(at), value) for at, value in values_by_period(
            cloudwatch, spec.metric_queries(), start, end, spec.period_seconds).items())
        return {"label": f"{spec.metric_name} = {spec.expression} ({spec.period_seconds} s)",
                "threshold": spec.threshold, "points": values}
    statistic = {"ExtendedStatistics": [spec.statistic]} if spec.statistic.startswith("p") else \
        {"Statistics": [spec.statistic]}
    points = cloudwatch.get_metric_statistics(
        Namespace=spec.namespace, MetricName=spec.metric_name, Period=spec.period_seconds,
        Dimensions=[{"Name": k, "Value": v} for k, v in spec.dimensions.items()], StartTime=start, EndTime=end,
        **statistic)["Datapoints"]
    values = [(isoformat(p["Timestamp"]), float(p.get(spec.statistic, p.get("ExtendedStatistics", {}).get(spec.statistic, 0))))
              for p in sorted(points, key=lambda p: p["Timestamp"])]
    return {"label": f"{spec.namespace} {spec.metric_name} ({spec.statistic}, {spec.period_seconds} s)",
            "threshold": spec.threshold, "points": values}
