"""The configured world, provisioned in an embedded moto: the same table, topics, bus and queues
the stacks deploy, with SQS subscriptions that capture what the control plane sends."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from controlplane.ledger import INCIDENT_INDEX, TABLE_KEYS
from controlplane.settings import SEVERITIES, Settings
from opsctl.routes import OPS_BUS_ROUTES
from stacks.config import ControlPlaneConfig

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


@dataclass
class LocalWorld:
    config: ControlPlaneConfig
    policy: dict[str, Any]
    settings: Settings
    session: Any
    notification_queues: dict[str, str]  # severity → capture queue URL
    ops_event_queue: str
    route_queues: dict[str, str] = field(default_factory=dict)  # function → queue URL of its ops-bus rule

    def client(self, service: str) -> Any:
        return self.session.client(service)


def use_fake_credentials() -> None:
    """moto needs some credentials; never let a real profile leak into a local run."""
    for key, value in FAKE_CREDENTIALS.items():
        os.environ[key] = value
    os.environ.pop("AWS_PROFILE", None)


def create_ledger_table(dynamodb: Any, name: str) -> None:
    keys = TABLE_KEYS
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": keys[k], "AttributeType": "S"} for k in keys],
        KeySchema=[{"AttributeName": keys["partition"], "KeyType": "HASH"},
                   {"AttributeName": keys["sort"], "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{
            "IndexName": INCIDENT_INDEX,
            "KeySchema": [{"AttributeName": keys["index_partition"], "KeyType": "HASH"},
                          {"AttributeName": keys["index_sort"], "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }],
    )


def provision(config: ControlPlaneConfig, policy: dict[str, Any], workdir: Path | None = None) -> LocalWorld:
    """Create the deployed resources in moto (call inside `mock_aws`)."""
    session = boto3.session.Session(region_name=config.region)
    prefix = config.prefix
    dynamodb, sns, sqs, events = (session.client(s) for s in ("dynamodb", "sns", "sqs", "events"))

    create_ledger_table(dynamodb, f"{prefix}-ledger")
    dlq_url = sqs.create_queue(QueueName=f"{prefix}-triage-dlq")["QueueUrl"]

    topics, capture = {}, {}
    for severity in SEVERITIES:
        topic_arn = sns.create_topic(Name=f"{prefix}-notify-{severity.lower()}")["TopicArn"]
        queue_url = sqs.create_queue(QueueName=f"{prefix}-capture-{severity.lower()}")["QueueUrl"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=_queue_arn(sqs, queue_url))
        topics[severity], capture[severity] = topic_arn, queue_url

    bus = f"{prefix}-ops"
    events.create_event_bus(Name=bus)
    ops_queue = sqs.create_queue(QueueName=f"{prefix}-capture-ops")["QueueUrl"]
    events.put_rule(Name="capture-all", EventBusName=bus, EventPattern=json.dumps({"source": [{"prefix": ""}]}))
    events.put_targets(Rule="capture-all", EventBusName=bus, Targets=[{"Id": "q", "Arn": _queue_arn(sqs, ops_queue)}])
    route_queues = {}
    for route in OPS_BUS_ROUTES:
        queue_url = sqs.create_queue(QueueName=f"{prefix}-route-{route.function}")["QueueUrl"]
        events.put_rule(Name=f"route-{route.function}", EventBusName=bus, EventPattern=json.dumps(route.pattern))
        events.put_targets(Rule=f"route-{route.function}", EventBusName=bus,
                           Targets=[{"Id": "q", "Arn": _queue_arn(sqs, queue_url)}])
        route_queues[route.function] = queue_url

    policy_dir = Path(tempfile.mkdtemp(prefix="opsctl-policy-", dir=workdir))
    policy_path = policy_dir / "policy.json"
    policy_path.write_text(json.dumps(policy), encoding="utf-8")
    settings = Settings(
        ledger_table=f"{prefix}-ledger",
        ops_bus_name=bus,
        notify_topics=topics,
        rejects_queue_url=dlq_url,
        policy_path=str(policy_path),
    )
    return LocalWorld(config=config, policy=policy, settings=settings, session=session,
                      notification_queues=capture, ops_event_queue=ops_queue, route_queues=route_queues)


def drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Everything waiting on a capture queue, as parsed JSON bodies, deleted once read."""
    bodies: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def _queue_arn(sqs: Any, queue_url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])
