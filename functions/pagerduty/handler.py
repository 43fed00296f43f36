"""PagerDuty Lambda: incidents of the severities PagerDuty owns → its Events API v2."""

from typing import Any

from aws_lambda_powertools import Logger

from controlplane.runtime import dependencies
from events_v2 import PagerDutySync

logger = Logger()


@logger.inject_lambda_context(log_event=True)  # ops-bus events: no routing key is ever in one
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    notes = PagerDutySync(dependencies()).handle(event)
    for note in notes:
        logger.info("pagerduty", extra=note)
    # What PagerDuty took is bookkeeping of a page already sent by SNS; what it refused needs a human.
    return {"actions": [n for n in notes if n["result"] == "failed"],
            "checks": [n for n in notes if n["result"] != "failed"]}
