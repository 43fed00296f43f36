"""Whether an alarm transition is to be believed (README: trust model).

EventBridge events with an `aws.*` source on the default bus come from AWS itself: no principal can
put them. SNS messages and direct invocations are claims anyone allowed to publish or invoke could
make: an alarm of this account and Region is looked up in CloudWatch (one DescribeAlarms) and a
claim CloudWatch contradicts is refused. Whatever the path, only the accounts the config allows are
heard at all."""

from __future__ import annotations

from alarm_parsing import AlarmTransition
from controlplane.alarms import current_state
from controlplane.clock import isoformat
from controlplane.runtime import Dependencies

# Paths whose transitions AWS itself (or our own functions) produced, or a human on call declared
# with their own credentials (opsctl incident declare; no delivery parses to it): nothing to confirm.
AUTHENTIC_PATHS = ("eventbridge", "recheck", "backup-check", "declared")


def untrusted_reason(transition: AlarmTransition, deps: Dependencies) -> str | None:
    """Why this transition must not move anything, or None when it may."""
    policy = deps.policy
    arn_account = transition.alarm_arn.split(":")[4]
    if transition.account != arn_account:
        return f"the message says account {transition.account} but the alarm ARN is account {arn_account}"
    if not policy.allows_account(transition.account):
        return f"account {transition.account} is not in intake.allowed_accounts"
    if transition.path in AUTHENTIC_PATHS or not policy.is_local(transition.alarm_arn):
        # Another allowed account's alarm cannot be looked up with our credentials: its claim stands.
        return None
    return _contradiction(transition, deps)


def _contradiction(transition: AlarmTransition, deps: Dependencies) -> str | None:
    """What CloudWatch says against the claim, if anything. The alarm's current state confirms it;
    a different state since after the claimed change means the alarm moved on (the claim may be
    true, and an older change than the ledger's is superseded anyway); a different state since
    before it, or no such alarm, contradicts it."""
    state, since = current_state(deps.client("cloudwatch"), transition.alarm_name)
    if state is None:
        return f"CloudWatch has no alarm {transition.alarm_name!r} in this account and Region"
    if state == transition.new_state or since is None or since > transition.changed_at:
        return None
    return (f"CloudWatch says {transition.alarm_name} is {state} since {isoformat(since)}, not "
            f"{transition.new_state} at {isoformat(transition.changed_at)}: a possible spoof")
