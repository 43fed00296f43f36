"""PagerDuty webhook Lambda (function URL): acknowledgements made in PagerDuty → the ledger."""

from typing import Any

from aws_lambda_powertools import Logger

from controlplane.runtime import dependencies
from webhook import PagerDutyWebhook

logger = Logger()


@logger.inject_lambda_context(log_event=False)  # the body is an unverified claim until the signature says otherwise
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    reply = PagerDutyWebhook(dependencies()).receive(event)
    logger.info("pagerduty webhook", extra={"status": reply.status, "result": reply.result, "reason": reply.reason,
                                            "incident": reply.incident})
    return reply.response()
