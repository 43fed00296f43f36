"""What every page carries besides its text: SNS message attributes, one of them the page's id.

A page is sent at least once: Lambda may die between a Publish and the mark that records it, and
the retry publishes again (SNS standard topics, which email and SMS need, take no deduplication id).
`page_id` is the same on every send of one page, so a consumer that can deduplicate (a webhook,
a chat thread, PagerDuty's dedup key) drops the re-send."""

from __future__ import annotations

import hashlib
from typing import Any

PAGE_ID = "page_id"


def message_attributes(attributes: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {key: {"DataType": "String", "StringValue": str(value)} for key, value in attributes.items()}


def content_id(*parts: str) -> str:
    """The id of a page that no transition names: its content, which a retry writes again the same."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]
