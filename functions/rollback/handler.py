"""Rollback Lambda: bad deployments go back to the previous good version, through the guardrails."""

from typing import Any

from aws_lambda_powertools import Logger

from controlplane.runtime import dependencies
from rollback_service import RollbackService

logger = Logger()


@logger.inject_lambda_context(log_event=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    actions = RollbackService(dependencies()).handle(event)
    for action in actions:
        logger.info("rollback decision", extra=action)
    return {"actions": actions}
