"""Fire-drill Lambda: the weekly drill of the paging pipeline (and `opsctl drill` in the replay)."""

from typing import Any

from aws_lambda_powertools import Logger

from controlplane.runtime import dependencies
from drill_service import FireDrill

logger = Logger()


@logger.inject_lambda_context(log_event=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = FireDrill(dependencies()).handle(event)
    logger.info("fire drill", extra=result)
    return {"checks": [{"type": "fire-drill", "result": "executed",
                        "reason": f"{result['drill_id']}: {result['outcome']} ({result['reason']})"}],
            "drill": result}
