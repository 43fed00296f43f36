"""Coverage Lambda (organization only): the spokes' heartbeats, and the check that every member
account × Region is heard from and reachable."""

from typing import Any

from aws_lambda_powertools import Logger

from controlplane.runtime import dependencies
from coverage_service import CoverageService

logger = Logger()


@logger.inject_lambda_context(log_event=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = CoverageService(dependencies()).handle(event)
    logger.info("coverage", extra=result)
    return result
