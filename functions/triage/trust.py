"""Whether an alarm transition is to be believed (README: trust model).

EventBridge events with an `aws.*` source on the default bus come from AWS itself: no principal can
put them. SNS messages and direct invocations are claims anyone allowed to publish or invoke could
make: an alarm of this account and Region is looked up in CloudWatch (one DescribeAlarms) and a
claim CloudWatch contradicts is refused; so is a member account's (organization:), asked through its
spoke role. Whatever the path, only the accounts the config allows are heard at all, and a member
account only from the Regions its spokes watch."""

from __future__ import annotations

from alarm_parsing import AlarmTransition
from controlplane.alarms import current_state
from controlplane.clock import isoformat
from controlplane.errors import Unreachable
from controlplane.runtime import Dependencies

# Paths whose transitions AWS itself (or our own functions) produced, or a human on call declared
# with their own credentials (opsctl incident declare; no delivery parses to it): nothing to confirm.
AUTHENTIC_PATHS = ("eventbridge", "recheck", "backup-check", "coverage-check", "declared")


def untrusted_reason(transition: AlarmTransition, deps: Dependencies) -> str | None:
    """Why this transition must not move anything, or None when it may."""
    policy = deps.policy
    arn_account = transition.alarm_arn.split(":")[4]
    if transition.account != arn_account:
        return f"the message says account {transition.account} but the alarm ARN is account {arn_account}"
    if not policy.allows_account(transition.account):
        return f"account {transition.account} is not in intake.allowed_accounts or organization.accounts"
    organization = policy.organization
    member = transition.account in organization.accounts
    if member and not organization.watches(transition.account, transition.region):
        return (f"account {transition.account} is watched in {', '.join(organization.regions)} only "
                f"(organization.regions), not {transition.region}")
    if transition.path in AUTHENTIC_PATHS or not (member or policy.is_local(transition.alarm_arn)):
        # Another allowed account's alarm cannot be looked up with our credentials: its claim stands.
        return None
    return _contradiction(transition, deps)


def _contradiction(transition: AlarmTransition, deps: Dependencies) -> str | None:
    """What CloudWatch says against the claim, if anything. The alarm's current state confirms it;
    a different state since after the claimed change means the alarm moved on (the claim may be
    true, and an older change than the ledger's is superseded anyway); a different state since
    before it, or no such alarm, contradicts it."""
    try:
        cloudwatch = deps.client_in("cloudwatch", transition.account, transition.region,
                                    session_name=f"triage-{transition.fingerprint}")
    except Unreachable as error:
        return f"it cannot be confirmed: {error}"
    state, since = current_state(cloudwatch, transition.alarm_name)
    if state is None:
        return f"CloudWatch has no alarm {transition.alarm_name!r} in account {transition.account} {transition.region}"
    if state == transition.new_state or since is None or since > transition.changed_at:
        return None
    return (f"CloudWatch says {transition.alarm_name} is {state} since {isoformat(since)}, not "
            f"{transition.new_state} at {isoformat(transition.changed_at)}: a possible spoof")
