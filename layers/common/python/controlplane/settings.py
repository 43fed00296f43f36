"""Environment, read once and lazily into a typed object (never at import time)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache

from controlplane.events import function_arn, scheduler_role_arn

SEVERITIES = ("P0", "P1", "P2", "P3")


@dataclass(frozen=True)
class Settings:
    ledger_table: str
    ops_bus_name: str
    notify_topics: Mapping[str, str]
    rejects_queue_url: str
    policy_path: str
    # Only for functions that act on the WAF or schedule follow-up checks.
    web_acl_id: str | None = None
    schedule_group: str | None = None
    scheduler_role_arn: str | None = None
    self_arn: str | None = None
    schedule_dlq_arn: str | None = None  # where Scheduler parks a follow-up it could not deliver
    status_bucket: str | None = None  # the status page's private bucket (served by CloudFront)
    reports_bucket: str | None = None
    pagerduty_events_url: str | None = None  # the Events API v2 endpoint of the account's region

    def of_function(self, prefix: str, account: str, region: str, function: str) -> Settings:
        """These settings as the deployed `function` has them: its own ARN (for the checks it
        schedules) and the Scheduler role that may invoke it."""
        return replace(self, self_arn=function_arn(region, account, prefix, function),
                       scheduler_role_arn=scheduler_role_arn(account, prefix, function))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        required = ("LEDGER_TABLE", "OPS_BUS_NAME", "REJECTS_QUEUE_URL", "POLICY_PATH",
                    *(f"NOTIFY_TOPIC_{s}" for s in SEVERITIES))
        missing = [key for key in required if not env.get(key)]
        if missing:
            raise RuntimeError(f"missing environment variables: {', '.join(missing)}")
        return cls(
            ledger_table=env["LEDGER_TABLE"],
            ops_bus_name=env["OPS_BUS_NAME"],
            notify_topics={s: env[f"NOTIFY_TOPIC_{s}"] for s in SEVERITIES},
            rejects_queue_url=env["REJECTS_QUEUE_URL"],
            policy_path=env["POLICY_PATH"],
            web_acl_id=env.get("WEB_ACL_ID"),
            schedule_group=env.get("SCHEDULE_GROUP"),
            scheduler_role_arn=env.get("SCHEDULER_ROLE_ARN"),
            self_arn=env.get("SELF_ARN"),
            schedule_dlq_arn=env.get("SCHEDULE_DLQ_ARN"),
            status_bucket=env.get("STATUS_BUCKET"),
            reports_bucket=env.get("REPORTS_BUCKET"),
            pagerduty_events_url=env.get("PAGERDUTY_EVENTS_URL"),
        )


@cache
def lambda_settings() -> Settings:
    return Settings.from_env(os.environ)
