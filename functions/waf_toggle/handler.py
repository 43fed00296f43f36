"""WAF toggle Lambda: rate limiting on traffic spikes, through the remediation guardrails."""

from typing import Any

from aws_lambda_powertools import Logger

from controlplane.runtime import dependencies
from waf_service import WafService

logger = Logger()


@logger.inject_lambda_context(log_event=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    actions = WafService(dependencies()).handle(event)
    for action in actions:
        logger.info("waf decision", extra=action)
    return {"actions": actions}
