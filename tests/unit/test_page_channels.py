"""Every page in every channel's form, from one Publish (MessageStructure=json): the runbook's
template as email text, one line for SMS, and, for HTTPS subscribers (Amazon Q Developer in chat
applications, AWS Chatbot), its custom notification. The custom-notification shape is the one its
guide documents ("Custom notifications using Amazon Q Developer in chat applications", which lists
`version` "1.0", `source` "custom", `content.textType` "client-markdown", `title`, `description`,
`nextSteps`, `keywords` and `metadata.threadId`); tests/events/outbound/chatbot-custom-notification.json
is that guide's example (written from it), which this test also holds our output to, key by key."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from controlplane.notify import CHAT_DESCRIPTION_LIMIT, chat_notification, publish_page
from paths import ROOT

PAGE = ("## Incident Report\n\n**Incident ID:** INC-2026-001\n**Severity:** P1\n\n### Current Status\n- Alarm x is ALARM\n\n"
        "### Next Steps\n- Respond within 60 minutes (High; escalation: Tech Lead)\n- Follow the runbook: https://r#s\n")
ATTRIBUTES = {"kind": "incident-opened", "severity": "P1", "incident": "INC-2026-001", "page_id": "abc"}


def shape(value):
    """The JSON types, key by key (lists by their first element)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def test_the_chat_notification_is_chatbots_custom_notification() -> None:
    ours = chat_notification("[P1] INC-2026-001 Opened: x", PAGE, ATTRIBUTES)
    documented = json.loads((ROOT / "tests" / "events" / "outbound" / "chatbot-custom-notification.json").read_text())
    assert (ours["version"], ours["source"], ours["content"]["textType"]) == ("1.0", "custom", "client-markdown")
    for part in ("content", "metadata"):
        assert {key: shape(ours[part][key]) for key in documented[part] if key != "additionalContext"} == {
            key: shape(value) for key, value in documented[part].items() if key != "additionalContext"}
    # Free-form context: strings by name (ours: the page's attributes).
    assert all(isinstance(value, str) for value in ours["metadata"]["additionalContext"].values())
    assert ours["content"]["nextSteps"] == ["Respond within 60 minutes (High; escalation: Tech Lead)",
                                            "Follow the runbook: https://r#s"]
    assert "### Next Steps" not in ours["content"]["description"] and "**Severity:** P1" in ours["content"]["description"]
    assert ours["content"]["keywords"] == ["P1", "incident-opened", "INC-2026-001"]
    assert ours["metadata"]["threadId"] == "INC-2026-001"  # one thread per incident: its updates stay together


def test_a_long_page_is_cut_for_chat_and_says_so() -> None:
    long = chat_notification("s", "x" * 20_000, {"severity": "P3", "page_id": "p"})
    assert len(long["content"]["description"]) <= CHAT_DESCRIPTION_LIMIT and "the email has all of it" in \
        long["content"]["description"]
    assert long["metadata"]["threadId"] == "p"


@mock_aws
@pytest.mark.parametrize("protocol", ["sqs"])
def test_one_publish_carries_every_channels_form(protocol: str) -> None:
    """SNS hands each protocol its own message; the default (email, and the queues our tests read) is
    the template, unchanged."""
    sns, sqs = boto3.client("sns", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
    topic = sns.create_topic(Name="p1")["TopicArn"]
    queue = sqs.create_queue(QueueName="capture")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol=protocol, Endpoint=arn)
    publish_page(sns, topic, subject="[P1] INC-2026-001 Opened: x", message=PAGE, attributes=ATTRIBUTES)
    [message] = sqs.receive_message(QueueUrl=queue)["Messages"]
    body = json.loads(message["Body"])
    assert body["Message"] == PAGE and body["Subject"] == "[P1] INC-2026-001 Opened: x"
    assert body["MessageAttributes"]["page_id"]["Value"] == "abc"
