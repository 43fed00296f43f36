"""Escalation Lambda: acknowledgement deadlines and resolution targets of the escalation matrix."""

from typing import Any

from aws_lambda_powertools import Logger

from controlplane.runtime import dependencies
from escalation_service import EscalationService

logger = Logger()


@logger.inject_lambda_context(log_event=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    notes = EscalationService(dependencies()).handle(event)
    for note in notes:
        logger.info("escalation", extra=note)
    # Pages are actions; arming a deadline, or finding it met, is bookkeeping.
    return {"actions": [n for n in notes if n["type"] == "escalation.page"],
            "checks": [n for n in notes if n["type"] != "escalation.page"]}
