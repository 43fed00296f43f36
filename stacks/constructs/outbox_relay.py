"""The outbox relay: the ledger stream's new OUTBOX items → ops-bus events and severity pages."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from constructs import Construct

from controlplane.events import OUTBOX_RELAY_RETRIES, OUTBOX_STREAM_FILTER, dead_letter_queue_name
from stacks.constructs.dead_letters import DeadLetterQueue
from stacks.constructs.lambda_factory import ControlPlaneFunction, SharedLayers


class OutboxRelay(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, prefix: str, shared: SharedLayers,
                 table: dynamodb.ITable, environment: dict[str, str], max_record_age: Duration) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters = DeadLetterQueue(self, "DeadLetters", queue_name=dead_letter_queue_name(prefix, "outbox_relay"))
        self.handler = ControlPlaneFunction(
            self, "Handler",
            name="outbox_relay",
            prefix=prefix,
            shared=shared,
            environment={"REJECTS_QUEUE_URL": self.dead_letters.queue.queue_url, **environment},
            failure_queue=self.dead_letters.queue,
            retry_attempts=0,  # never invoked asynchronously; the stream mapping retries
            max_event_age=max_record_age,
        )
        self.handler.function.add_event_source(sources.DynamoEventSource(
            table,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=10,
            bisect_batch_on_error=True,
            retry_attempts=OUTBOX_RELAY_RETRIES,
            max_record_age=max_record_age,
            report_batch_item_failures=True,
            on_failure=sources.SqsDlq(self.dead_letters.queue),
            filters=[lambda_.FilterCriteria.filter(OUTBOX_STREAM_FILTER)],
        ))
