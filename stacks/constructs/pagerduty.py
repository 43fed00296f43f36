"""PagerDuty, when the config names a service (notifications.channels.pagerduty): the function that
keeps PagerDuty in step with the ledger through its Events API v2, and the function URL its v3
webhooks deliver acknowledgements to.

Secrets: one per service, holding its routing key, and one holding the webhook subscription's
signing secrets. The stack creates them empty (the template never holds a key) and the platform
team puts the values after the first deploy (docs/deploy.md); CloudFormation never rewrites a
value it did not change, so later deploys keep them. Each function may read its own secrets only.

Why HTTP in a function rather than EventBridge API destinations: the routing key travels in the
JSON body, not a header, and ordering matters — a `trigger` delivered after its `resolve` opens a
new PagerDuty incident. A function reads the ledger before each send (out-of-order and late events
send nothing twice and never re-open), and its calls can be tested against a local server; an
API destination's delivery can be neither ordered against the ledger nor run here."""

from __future__ import annotations

import json

from aws_cdk import CfnOutput, Duration, RemovalPolicy, SecretValue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from controlplane.events import PAGERDUTY_EVENTS_URLS, pagerduty_secret_name, pagerduty_signing_secret_name
from controlplane.policy import PagerDutyPolicy
from stacks.constructs.capability import capability_function
from stacks.constructs.lambda_factory import SharedLayers
from stacks.constructs.nag import acknowledge

# An invocation sends at most trigger, acknowledge and resolve, each retried with backoff (events_v2).
EVENTS_TIMEOUT_SECONDS = 90
# The webhook is reachable from the internet: a flood of unsigned requests costs at most this many
# concurrent invocations (PagerDuty's own deliveries are a handful a minute).
WEBHOOK_CONCURRENCY = 2


def _empty_secret(scope: Construct, construct_id: str, *, name: str, description: str, value: dict[str, object],
                  reader: lambda_.IFunction) -> None:
    """A secret the platform team fills in, readable (GetSecretValue only) by `reader`."""
    secret = secretsmanager.Secret(scope, construct_id, secret_name=name, description=description,
                                   secret_string_value=SecretValue.unsafe_plain_text(json.dumps(value)),
                                   removal_policy=RemovalPolicy.RETAIN)
    acknowledge(secret, {"AwsSolutions::AwsSolutions-SMG4": "PagerDuty issues this value; it is rotated in PagerDuty "
                                                            "and put here by the platform team (docs/deploy.md): no "
                                                            "Lambda can rotate it."})
    iam.Grant.add_to_principal(grantee=reader, actions=["secretsmanager:GetSecretValue"], resource_arns=[secret.secret_arn])


class PagerDutyEvents(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, prefix: str, pagerduty: PagerDutyPolicy,
                 shared: SharedLayers, environment: dict[str, str], retry_attempts: int, max_event_age: Duration) -> None:
        super().__init__(scope, construct_id)
        assert pagerduty.region is not None  # deployed only with a service configured
        self.dead_letters, self.handler = capability_function(
            self, name="pagerduty", prefix=prefix, shared=shared,
            environment={**environment, "PAGERDUTY_EVENTS_URL": PAGERDUTY_EVENTS_URLS[pagerduty.region]},
            retry_attempts=retry_attempts, max_event_age=max_event_age, timeout_seconds=EVENTS_TIMEOUT_SECONDS,
            # One at a time: two events of one incident never race (a trigger overtaking a resolve).
            reserved_concurrency=1)
        for service in pagerduty.service_names:
            _empty_secret(self, f"RoutingKey-{service}", name=pagerduty_secret_name(prefix, service),
                          description=f"Routing key (Events API v2 integration key) of PagerDuty service {service}",
                          value={"routing_key": ""}, reader=self.handler.function)


class PagerDutyWebhook(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, prefix: str, shared: SharedLayers,
                 environment: dict[str, str], retry_attempts: int, max_event_age: Duration) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters, self.handler = capability_function(
            self, name="pagerduty_webhook", prefix=prefix, shared=shared, environment=environment,
            retry_attempts=retry_attempts, max_event_age=max_event_age, reserved_concurrency=WEBHOOK_CONCURRENCY)
        _empty_secret(self, "SigningSecrets", name=pagerduty_signing_secret_name(prefix),
                      description="Signing secrets of the PagerDuty v3 webhook subscription (all of a rotation)",
                      value={"signing_secrets": []}, reader=self.handler.function)
        # PagerDuty cannot sign with SigV4: the URL is public and every request proves itself with
        # the subscription's HMAC signature (functions/pagerduty_webhook/webhook.py).
        url = self.handler.function.add_function_url(auth_type=lambda_.FunctionUrlAuthType.NONE)
        CfnOutput(self, "WebhookUrl", value=url.url,
                  description="The PagerDuty v3 webhook subscription's delivery URL (docs/deploy.md)")
