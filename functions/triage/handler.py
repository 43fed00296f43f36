"""Triage Lambda: CloudWatch alarm state changes (EventBridge or SNS) → incidents."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from controlplane.runtime import dependencies
from triage_service import triage_delivery

logger = Logger()
metrics = Metrics()


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    outcomes = triage_delivery(event, dependencies())
    for outcome in outcomes:
        metrics.add_metric(name=f"Triage_{outcome.result}", unit=MetricUnit.Count, value=1)
        logger.info("triage outcome", extra=outcome.as_dict())
    return {"outcomes": [outcome.as_dict() for outcome in outcomes]}
