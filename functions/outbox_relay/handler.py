"""Outbox relay Lambda: the ledger stream's new OUTBOX items → ops-bus events and pages."""

from typing import Any

from aws_lambda_powertools import Logger

from controlplane.runtime import dependencies
from relay import relay_batch

logger = Logger()


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return relay_batch(event, dependencies())
