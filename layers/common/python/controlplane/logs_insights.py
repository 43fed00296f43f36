"""The application's errors from its log groups (config `investigate.log_groups`), through one
CloudWatch Logs Insights query: the most frequent error messages in a time range. `opsctl investigate`,
`opsctl logs search` and the morning checklist all ask it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from controlplane.text import safe_text

TOP_ERRORS = ("fields @message | filter @message like /(?i)(error|exception|fatal|timed? ?out)/ "
              "| stats count(*) as occurrences by @message | sort occurrences desc | limit {limit}")
# Logs Insights answers in seconds; a query still running after this is stopped (it costs by data scanned).
WAIT_SECONDS = 60
DONE = ("Complete", "Failed", "Cancelled", "Timeout", "Unknown")


def top_errors(logs: Any, groups: tuple[str, ...], start: datetime, end: datetime, *,
               sleep: Callable[[float], None], limit: int = 10, wait_seconds: int = WAIT_SECONDS) -> dict[str, Any]:
    """{"status", "errors": [{"message", "occurrences"}, …]} over [start, end], most frequent first."""
    if not groups:
        return {"status": "no log groups configured (investigate.log_groups)", "errors": []}
    try:
        query = logs.start_query(logGroupNames=list(groups), startTime=int(start.timestamp()),
                                 endTime=int(end.timestamp()), queryString=TOP_ERRORS.format(limit=limit))["queryId"]
    except ClientError as error:  # a group that does not exist (yet), no permission: say so, do not crash
        return {"status": f"cannot query {', '.join(groups)}: {error.response['Error']['Code']}: "
                          f"{error.response['Error'].get('Message', '')}", "errors": []}
    for _ in range(wait_seconds):
        result = logs.get_query_results(queryId=query)
        if result["status"] in DONE:
            break
        sleep(1)
    else:
        logs.stop_query(queryId=query)
        return {"status": f"still running after {wait_seconds} s: stopped", "errors": []}
    rows = [{field["field"]: field["value"] for field in row} for row in result.get("results", [])]
    return {"status": result["status"],
            "errors": [{"message": safe_text(row.get("@message", ""), 300), "occurrences": int(row.get("occurrences", 1))}
                       for row in rows]}
