"""One SNS topic per severity (KMS-encrypted, TLS-only) and its channels: the configured contacts'
email, SMS to the P0 phones, and Slack channels through Amazon Q Developer in chat applications (AWS
Chatbot), which read the same pages in their own form (controlplane.notify)."""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_chatbot as chatbot
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
                 contacts: dict[str, tuple[str, ...]], channels: dict[str, Any]) -> None:
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
            for phone in channels["sms"].get(severity, ()):
                # (SmsSubscription drops its dead-letter queue when it binds: a plain subscription keeps it.)
                sns.Subscription(self, f"{severity}-sms-{phone.removeprefix('+')}", topic=topic,
                                 protocol=sns.SubscriptionProtocol.SMS, endpoint=phone,
                                 dead_letter_queue=self.dead_letters.queue)
            self.topics[severity] = topic
        self._slack(prefix, channels)

    def _slack(self, prefix: str, channels: dict[str, Any]) -> None:
        """One channel configuration per Slack channel, subscribed to the topics of its severities.
        Chat users may run nothing through it: its role has no permissions and its guardrail denies
        every action, so a channel only ever shows pages."""
        severities_of: dict[str, list[str]] = {}
        for severity, channel_ids in channels["slack"].items():
            for channel_id in channel_ids:
                severities_of.setdefault(channel_id, []).append(severity)
        if not severities_of:
            return
        role = iam.Role(self, "ChatRole", assumed_by=iam.ServicePrincipal("chatbot.amazonaws.com"),
                        description="Amazon Q Developer in chat applications: shows pages, runs nothing")
        guardrail = iam.ManagedPolicy(self, "ChatGuardrail", description="Nothing may be run from the chat channels",
                                      statements=[iam.PolicyStatement(effect=iam.Effect.DENY, actions=["*"],
                                                                      resources=["*"])])
        for channel_id, severities in sorted(severities_of.items()):
            chatbot.SlackChannelConfiguration(
                self, f"Slack-{channel_id}", slack_channel_configuration_name=f"{prefix}-{channel_id}"[:128],
                slack_workspace_id=channels["slack_workspace_id"], slack_channel_id=channel_id, role=role,
                guardrail_policies=[guardrail], notification_topics=[self.topics[s] for s in severities],
                logging_level=chatbot.LoggingLevel.ERROR)

    def grant_publish(self, grantee: iam.IGrantable) -> None:
        iam.Grant.add_to_principal(grantee=grantee, actions=["sns:Publish"],
                                   resource_arns=[topic.topic_arn for topic in self.topics.values()])
        grant_key_use(self.key, grantee)

    def environment(self) -> dict[str, str]:
        return {f"NOTIFY_TOPIC_{severity}": topic.topic_arn for severity, topic in self.topics.items()}
