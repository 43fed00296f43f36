"""The health canary (config `synthetics:`): a CloudWatch Synthetics canary on the Python runtime that
asks the application's health URL every few minutes (canary/python/health_check.py). Its
`CloudWatchSynthetics` metrics are what the health and availability alarms watch, in place of a
health check of our own making; the morning checklist reads its last run."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, Stack
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_synthetics as synthetics
from constructs import Construct

from controlplane.config.sections import CANARY_RUN_MARGIN_SECONDS
from controlplane.policy import SyntheticsPolicy
from stacks.constructs.nag import acknowledge
from stacks.constructs.reporting import private_bucket

CODE = Path(__file__).resolve().parents[2] / "canary"


class HealthCanary(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, policy: SyntheticsPolicy, access_logs: s3.IBucket) -> None:
        super().__init__(scope, construct_id)
        # Each run's log and result; failures are kept longer, to read after the incident.
        artifacts = private_bucket(self, "Artifacts", logs=access_logs,
                                   lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(30))])
        every = Duration.minutes(policy.every_minutes)
        self.canary = synthetics.Canary(
            self, "Canary",
            canary_name=policy.canary_name,
            runtime=synthetics.Runtime.SYNTHETICS_PYTHON_SELENIUM_7_0,
            test=synthetics.Test.custom(code=synthetics.Code.from_asset(str(CODE)), handler="health_check.handler"),
            schedule=synthetics.Schedule.rate(every),
            timeout=Duration.seconds(policy.timeout_seconds + CANARY_RUN_MARGIN_SECONDS),
            environment_variables={"HEALTH_URL": policy.url, "TIMEOUT_SECONDS": str(policy.timeout_seconds)},
            artifacts_bucket_location=synthetics.ArtifactsBucketLocation(bucket=artifacts, prefix="canary"),
            success_retention_period=Duration.days(7),
            failure_retention_period=Duration.days(30),
            provisioned_resource_cleanup=True,
        )
        bucket = f"<{Stack.of(self).get_logical_id(artifacts.node.default_child)}.Arn>"  # type: ignore[arg-type]
        region, account = Stack.of(self).region, Stack.of(self).account
        acknowledge(self.canary.role, {
            "AwsSolutions::AwsSolutions-IAM5[Resource::*]": "The role CDK gives a canary: s3:ListAllMyBuckets and "
                "cloudwatch:PutMetricData (held to the CloudWatchSynthetics namespace by condition) take no resource.",
            f"AwsSolutions::AwsSolutions-IAM5[Resource::{bucket}/canary/*]": "Each run writes its artifacts under "
                "canary/ in the canary's own bucket.",
            f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:aws:logs:{region}:{account}:log-group:/aws/lambda/cwsyn-*]":
                "Synthetics names the canary's function (and its log group) cwsyn-<name>-<id> at creation.",
            "Serverless::Serverless-LambdaStarPermissions": "The canary's function role, as above: two actions that "
                "take no resource, and the log group Synthetics names at creation.",
        })
