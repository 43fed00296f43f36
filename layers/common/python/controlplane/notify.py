"""Pages: one SNS Publish per page, read by every channel subscribed to the severity's topic.

A page is sent at least once: Lambda may die between a Publish and the mark that records it, and
the retry publishes again (SNS standard topics, which email and SMS need, take no deduplication id).
`page_id` is the same on every send of one page, so a consumer that can deduplicate (a webhook,
a chat thread, PagerDuty's dedup key) drops the re-send.

Each channel gets the page in its own shape, in the same Publish (MessageStructure=json): email the
runbook's template as text; SMS one line (the subject, which says severity, incident and alarm);
HTTPS subscribers — Amazon Q Developer in chat applications (AWS Chatbot) subscribes to a topic that
way — its custom-notification JSON: title, the template as client markdown, next steps, keywords,
and a thread per incident, so that the channel shows the runbook's template rather than raw text."""

from __future__ import annotations

import hashlib
import json
from typing import Any

PAGE_ID = "page_id"
# Our own bounds for chat (a page longer than this is cut, with a pointer to the full one).
CHAT_TITLE_LIMIT, CHAT_DESCRIPTION_LIMIT, CHAT_STEPS = 250, 8000, 8
NEXT_STEPS = "### Next Steps"


def message_attributes(attributes: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {key: {"DataType": "String", "StringValue": str(value)} for key, value in attributes.items()}


def content_id(*parts: str) -> str:
    """The id of a page that no transition names: its content, which a retry writes again the same."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def publish_page(sns: Any, topic_arn: str, *, subject: str, message: str, attributes: dict[str, Any]) -> dict[str, Any]:
    """Publish one page to a severity topic, every channel's form of it at once."""
    return sns.publish(TopicArn=topic_arn, Subject=subject[:100], MessageStructure="json",
                       Message=json.dumps(channel_messages(subject[:100], message, attributes)),
                       MessageAttributes=message_attributes(attributes))


def channel_messages(subject: str, message: str, attributes: dict[str, Any]) -> dict[str, str]:
    return {"default": message, "email": message, "sms": subject,
            "https": json.dumps(chat_notification(subject, message, attributes))}


def chat_notification(subject: str, message: str, attributes: dict[str, Any]) -> dict[str, Any]:
    """Chatbot's custom notification: the template's "Next Steps" become its next steps; one thread
    per incident (or per page, when no incident is named), so updates to an incident stay together."""
    body, _, steps = message.partition(NEXT_STEPS)
    next_steps = [line.removeprefix("- ").strip() for line in steps.splitlines() if line.startswith("- ")]
    description = body.strip()
    if len(description) > CHAT_DESCRIPTION_LIMIT:
        description = description[:CHAT_DESCRIPTION_LIMIT - 40] + "\n… (cut: the email has all of it)"
    thread = str(attributes.get("incident") or attributes.get(PAGE_ID) or content_id(subject))
    return {
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": subject[:CHAT_TITLE_LIMIT],
            "description": description,
            "nextSteps": next_steps[:CHAT_STEPS],
            "keywords": [str(attributes[key]) for key in ("severity", "kind", "incident") if attributes.get(key)],
        },
        "metadata": {
            "threadId": thread,
            "summary": subject[:CHAT_TITLE_LIMIT],
            "eventType": str(attributes.get("kind", "page")),
            "relatedResources": [thread],
            "additionalContext": {key: str(value) for key, value in attributes.items()},
        },
    }
