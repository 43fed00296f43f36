"""Typed domain failures: callers branch on the type, never on a message's text."""


class ControlPlaneError(Exception):
    """Base class for the control plane's own failures."""


class MalformedEvent(ControlPlaneError):
    """The input cannot be understood; retrying cannot help, so it is rejected with this reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConcurrentUpdate(ControlPlaneError):
    """A conditional ledger write lost a race; re-read and decide again."""


class NotFound(ControlPlaneError):
    """A ledger record someone named (an incident, a decision) is not there."""

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"no {kind} {ident}")
        self.ident = ident


class IncidentNotFound(NotFound):
    def __init__(self, incident_id: str) -> None:
        super().__init__("incident", incident_id)
        self.incident_id = incident_id


class Unreachable(ControlPlaneError):
    """A member account's spoke role could not be assumed: the hub can neither look nor act there
    (a blind spot, never a silent skip)."""

    def __init__(self, role: str, code: str, message: str) -> None:
        super().__init__(f"the hub cannot assume {role} ({code}: {message})")
        self.role, self.code = role, code


class ConfigError(ControlPlaneError):
    """Configuration is invalid; the message names the offending key."""


# Errors that say "not now" (the SDK's own retries are spent): retried by Lambda (then dead-lettered,
# whose queue alarms) rather than reported as a blind spot that pages and resolves.
TRANSIENT = ("Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException",
             "RequestLimitExceeded", "ProvisionedThroughputExceededException", "ServiceUnavailable",
             "InternalServerError", "InternalFailure")


def is_transient(error: Exception) -> bool:
    """A botocore ClientError whose code says "not now" (duck-typed: no botocore import here)."""
    response = getattr(error, "response", None)
    return isinstance(response, dict) and response.get("Error", {}).get("Code") in TRANSIENT
