"""Dependencies of a handler: clients, table, clock, settings and policy, created on first use.

Lambdas get wall time and clients from the environment; `opsctl replay` and tests install their
own Dependencies (moto clients, an event-time clock) with `install()`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from botocore.exceptions import ClientError

from controlplane.clock import Clock, SystemClock
from controlplane.errors import Unreachable, is_transient
from controlplane.policy import Policy, load_policy
from controlplane.settings import Settings, lambda_settings

if TYPE_CHECKING:
    from controlplane.repository import Repository

R = TypeVar("R", bound="Repository")


def http_status(url: str) -> int:
    """Status of a GET, as `curl -f` judges it (0: no answer within 10 s)."""
    # Only the morning checklist asks: every other function's cold start skips urllib.request.
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="GET"), timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (urllib.error.URLError, TimeoutError, OSError):
        return 0


# How long a spoke role's credentials last (AssumeRole's minimum), and how close to their end they are
# no longer used: one remediation's calls take seconds.
ASSUMED_SECONDS = 900
ASSUMED_MARGIN = timedelta(minutes=2)

# Scheduler's own delivery retries for follow-ups: a missed check is worse than a late one.
SCHEDULE_RETRY_POLICY = {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 6 * 3600}


@dataclass
class Assumed:
    """A spoke role's credentials, held for one session name, and the clients made with them."""

    credentials: dict[str, Any]
    expires: datetime
    clients: dict[tuple[str, str], Any] = field(default_factory=dict)  # (service, Region) → client


@dataclass
class Dependencies:
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    session: Any = None
    _clients: dict[str, Any] = field(default_factory=dict)
    _assumed: dict[tuple[str, str], Assumed] = field(default_factory=dict)  # (account, session name) → its role
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    _last_write: dict[str, float] = field(default_factory=dict)
    http_status: Callable[[str], int] = http_status
    # The ledger repositories the services use, made on first use; a test may put a fake in first.
    repositories: dict[type, Any] = field(default_factory=dict)
    # (account, Region, a spoke role's credentials) → the session that looks and acts there (the local
    # world's adds what its emulator lacks in member accounts).
    assumed_session: Callable[[str, str, dict[str, Any]], Any] = field(default=lambda account, region, credentials:
                                                                       session_of(credentials, region))

    def repository(self, kind: type[R]) -> R:
        if kind not in self.repositories:
            self.repositories[kind] = kind.of(self)
        return self.repositories[kind]  # type: ignore[no-any-return]

    def client(self, service: str) -> Any:
        if service not in self._clients:
            session = self.session or boto3.session.Session()
            self._clients[service] = session.client(service)
        return self._clients[service]

    def client_in(self, service: str, account: str, region: str, *, session_name: str) -> Any:
        """A client that looks or acts in `account` and `region`: this function's own credentials in
        the hub's account, elsewhere the spoke's remediation role assumed under `session_name` (the
        decision's or incident's id), which CloudTrail records with every call made there."""
        if account == self.policy.account:
            if region == self.policy.region:
                return self.client(service)
            return (self.session or boto3.session.Session()).client(service, region_name=region)
        # One AssumeRole per account and session name (IAM is global): its clients, per service and
        # Region, share the credentials while they hold.
        held = self._assumed.get((account, session_name))
        if held is None or held.expires - ASSUMED_MARGIN <= datetime.now(held.expires.tzinfo):
            credentials = self.assume(account, session_name)
            expires = credentials["Expiration"]
            # A warm container keeps only credentials that still hold (one set per decision at most).
            self._assumed = {k: v for k, v in self._assumed.items() if v.expires > datetime.now(expires.tzinfo)}
            held = self._assumed[account, session_name] = Assumed(credentials, expires)
        if (service, region) not in held.clients:
            held.clients[service, region] = self.assumed_session(account, region, held.credentials).client(service)
        return held.clients[service, region]

    def assume(self, account: str, session_name: str) -> dict[str, Any]:
        """The credentials of `account`'s spoke role, assumed now under `session_name`. Raises
        Unreachable when STS refuses it, and what is transient as it is (Lambda retries)."""
        role = self.policy.organization.role_arn(account)
        try:
            return dict(self.client("sts").assume_role(
                RoleArn=role, RoleSessionName=session_name[:64], DurationSeconds=ASSUMED_SECONDS)["Credentials"])
        except ClientError as error:
            if is_transient(error):
                raise  # not now: Lambda retries the invocation, it is no blind spot
            raise Unreachable(role, error.response["Error"]["Code"], error.response["Error"].get("Message", "")) from error

    def put_on_ops_bus(self, entries: list[dict[str, Any]], what: str) -> None:
        """Our checks' findings onto the ops bus, ten to a call (PutEvents' limit); an entry refused
        fails the invocation, for Lambda to retry (triage dedups what was sent already)."""
        events = self.client("events")
        for start in range(0, len(entries), 10):
            response = events.put_events(Entries=entries[start:start + 10])
            if response.get("FailedEntryCount"):
                raise RuntimeError(f"ops bus refused {response['FailedEntryCount']} {what}; retrying")

    @property
    def policy(self) -> Policy:
        return load_policy(self.settings.policy_path)

    def pacer(self, api: str, interval_seconds: float) -> None:
        """Space our own writes to low-quota APIs (WAF: about one write per second per account and
        Region). The WAF function runs with a reserved concurrency of 1, so pacing per process is
        pacing per account."""
        last = self._last_write.get(api)
        if last is not None:
            wait = interval_seconds - (self.monotonic() - last)
            if wait > 0:
                self.sleep(wait)
        self._last_write[api] = self.monotonic()

    def schedule(self, name: str, at: datetime, payload: dict[str, Any]) -> None:
        """A one-time EventBridge Scheduler schedule that invokes this function with `payload` and
        deletes itself after running. Creating it twice is harmless."""
        scheduler = self.client("scheduler")
        target: dict[str, Any] = {"Arn": self.settings.self_arn, "RoleArn": self.settings.scheduler_role_arn,
                                  "Input": json.dumps(payload), "RetryPolicy": SCHEDULE_RETRY_POLICY}
        if self.settings.schedule_dlq_arn:
            target["DeadLetterConfig"] = {"Arn": self.settings.schedule_dlq_arn}
        # at() takes whole seconds: round up, so the task never runs before its time (an early
        # acknowledgement deadline would only re-arm itself and fire twice).
        whole = at if at.microsecond == 0 else at.replace(microsecond=0) + timedelta(seconds=1)
        try:
            scheduler.create_schedule(
                Name=name[:64], GroupName=self.settings.schedule_group,
                ScheduleExpression=f"at({whole.strftime('%Y-%m-%dT%H:%M:%S')})", ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"}, ActionAfterCompletion="DELETE", Target=target,
            )
        except scheduler.exceptions.ConflictException:
            pass


def session_of(credentials: dict[str, Any], region: str) -> boto3.session.Session:
    """A session with STS's credentials (AssumeRole's `Credentials`)."""
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"], region_name=region)


_installed: Dependencies | None = None


def install(dependencies: Dependencies | None) -> None:
    global _installed
    _installed = dependencies


def dependencies() -> Dependencies:
    global _installed
    if _installed is None:
        _installed = Dependencies(settings=lambda_settings())
    return _installed
