"""One SNS topic per severity (KMS-encrypted, TLS-only) with the configured contacts."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from controlplane.events import NOTIFY, dead_letter_queue_name, notify_topic
from stacks.constructs.dead_letters import DeadLetterQueue
from stacks.constructs.kms_grants import grant_key_use


class SeverityTopics(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, prefix: str, key: kms.IKey,
                 contacts: dict[str, tuple[str, ...]]) -> None:
        super().__init__(scope, construct_id)
        self.key = key
        # Undeliverable notifications (a bounced endpoint, a KMS outage) are kept, not lost.
        self.dead_letters = DeadLetterQueue(self, "DeadLetters", queue_name=dead_letter_queue_name(prefix, NOTIFY))
        self.topics: dict[str, sns.Topic] = {}
        for severity, emails in contacts.items():
            topic = sns.Topic(
                self, severity,
                topic_name=notify_topic(prefix, severity),
                display_name=f"{prefix} {severity}",
                master_key=key,
                enforce_ssl=True,
            )
            for email in emails:
                topic.add_subscription(subscriptions.EmailSubscription(email, dead_letter_queue=self.dead_letters.queue))
            self.topics[severity] = topic

    def grant_publish(self, grantee: iam.IGrantable) -> None:
        iam.Grant.add_to_principal(grantee=grantee, actions=["sns:Publish"],
                                   resource_arns=[topic.topic_arn for topic in self.topics.values()])
        grant_key_use(self.key, grantee)

    def environment(self) -> dict[str, str]:
        return {f"NOTIFY_TOPIC_{severity}": topic.topic_arn for severity, topic in self.topics.items()}
