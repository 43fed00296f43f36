"""Reporting Lambda: the status page, incident reports and the daily/weekly/monthly reports."""

from typing import Any

from aws_lambda_powertools import Logger

from controlplane.runtime import dependencies
from reporting_service import ReportingService

logger = Logger()


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    notes = ReportingService(dependencies()).handle(event)
    for note in notes:
        logger.info("reporting", extra=note)
    # Communication, not remediation: reported as checks, never as automated actions.
    return {"checks": notes}
