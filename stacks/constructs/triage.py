"""Alarm intake and the triage Lambda, by three paths: a default-bus rule on every alarm state change,
an SNS intake topic (alarm actions, other accounts), and alarms naming the function as their action;
each with retries, a maximum event age and a dead-letter queue that is itself alarmed."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from controlplane.events import dead_letter_queue_name, intake_topic
from stacks.constructs.dead_letters import DeadLetterQueue
from stacks.constructs.lambda_factory import ControlPlaneFunction, SharedLayers

# EventBridge → Lambda delivery only fails on throttling or outages: keep trying (EventBridge's
# maximum) for as long as the event is still young enough to act on, then dead-letter it.
DELIVERY_RETRIES = 185


class AlarmTriage(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        prefix: str,
        shared: SharedLayers,
        key: kms.IKey,
        environment: dict[str, str],
        retry_attempts: int,
        max_event_age: Duration,
        accounts: list[str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters = DeadLetterQueue(self, "DeadLetters", queue_name=dead_letter_queue_name(prefix, "triage"))
        dlq = self.dead_letters.queue
        self.handler = ControlPlaneFunction(
            self, "Handler",
            name="triage",
            prefix=prefix,
            shared=shared,
            environment={"REJECTS_QUEUE_URL": dlq.queue_url, **environment},
            failure_queue=dlq,
            retry_attempts=retry_attempts,
            max_event_age=max_event_age,
        )
        function = self.handler.function
        # Rejected (malformed) events are parked on the DLQ by the handler itself, with their reason.
        dlq.grant_send_messages(function)

        self.intake_topic = sns.Topic(
            self, "IntakeTopic", topic_name=intake_topic(prefix), master_key=key, enforce_ssl=True,
        )
        # Alarm actions of the accounts we accept (not CloudWatch acting for anyone: confused deputy),
        # and EventBridge rules of theirs forwarding alarm events.
        for service, source_arns in (("cloudwatch", [f"arn:aws:cloudwatch:*:{a}:alarm:*" for a in accounts]),
                                     ("events", [f"arn:aws:events:*:{a}:rule/*" for a in accounts])):
            self.intake_topic.add_to_resource_policy(iam.PolicyStatement(
                actions=["sns:Publish"], principals=[iam.ServicePrincipal(f"{service}.amazonaws.com")],
                resources=[self.intake_topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": accounts}, "ArnLike": {"aws:SourceArn": source_arns}}))
        self.intake_topic.add_subscription(subscriptions.LambdaSubscription(function, dead_letter_queue=dlq))

        # The third path: an alarm may name this function as its action. Only this account's alarms
        # (the confused-deputy guard AWS documents for the alarms' service principal).
        stack = Stack.of(self)
        function.add_permission(
            "AlarmActions",
            principal=iam.ServicePrincipal("lambda.alarms.cloudwatch.amazonaws.com"),
            action="lambda:InvokeFunction",
            source_account=stack.account,
            source_arn=stack.format_arn(service="cloudwatch", resource="alarm", resource_name="*",
                                        arn_format=ArnFormat.COLON_RESOURCE_NAME),
        )
