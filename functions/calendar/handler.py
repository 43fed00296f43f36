"""Calendar Lambda: the runbook's scheduled tasks, maintenance windows and `opsctl maintenance`."""

from typing import Any

from aws_lambda_powertools import Logger

from calendar_service import CalendarService
from controlplane.runtime import dependencies

logger = Logger()


@logger.inject_lambda_context(log_event=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    actions = CalendarService(dependencies()).handle(event)
    for action in actions:
        logger.info("calendar action", extra=action)
    return {"actions": actions}
