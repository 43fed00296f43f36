"""Dead-letter queues: kept 14 days, TLS-only, alarmed as soon as anything lands in them."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from controlplane.alarm_tags import format_tags
from stacks.constructs.nag import acknowledge


class DeadLetterQueue(Construct):
    """A DLQ kept 14 days, TLS-only, with an alarm as soon as anything lands in it."""

    def __init__(self, scope: Construct, construct_id: str, *, queue_name: str) -> None:
        super().__init__(scope, construct_id)
        self.queue = sqs.Queue(
            self, "Queue",
            queue_name=queue_name,
            retention_period=Duration.days(14),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        acknowledge(self.queue, {
            "AwsSolutions::AwsSolutions-SQS3": "This queue is the dead-letter queue; a DLQ of a DLQ would hide failures.",
            "Serverless::Serverless-SQSRedrivePolicy": "This queue is the dead-letter queue itself.",
        })
        self.alarm = cloudwatch.Alarm(
            self, "DepthAlarm",
            alarm_name=f"{queue_name}-not-empty",
            alarm_description=format_tags("Events the control plane could not process are waiting for a human",
                                          severity="P1", remediation="inspect-dead-letters",
                                          runbook="standard-alert-investigation"),
            metric=self.queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(1),
                                                                             statistic="Maximum"),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
