"""What users and stakeholders read: the status page (a private bucket served by CloudFront through
origin access control, behind the control plane's WebACL), incident and period reports in a private
bucket, and the reporting Lambda."""

from __future__ import annotations

from typing import Any

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.constructs.capability import capability_function
from stacks.constructs.lambda_factory import SharedLayers
from stacks.constructs.nag import acknowledge


def private_bucket(scope: Construct, construct_id: str, *, logs: s3.IBucket | None, **kwargs: Any) -> s3.Bucket:
    return s3.Bucket(scope, construct_id, block_public_access=s3.BlockPublicAccess.BLOCK_ALL, enforce_ssl=True,
                     encryption=s3.BucketEncryption.S3_MANAGED, removal_policy=RemovalPolicy.RETAIN,
                     server_access_logs_bucket=logs, server_access_logs_prefix=f"s3/{construct_id.lower()}/" if logs else None,
                     **kwargs)


class Reporting(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, prefix: str,
                 shared: SharedLayers, web_acl_arn: str | None, baseline_alarms: list[str], environment: dict[str, str],
                 retry_attempts: int, max_event_age: Duration) -> None:
        super().__init__(scope, construct_id)
        expire = [s3.LifecycleRule(expiration=Duration.days(90))]
        self.access_logs = private_bucket(self, "AccessLogs", logs=None, lifecycle_rules=expire)
        # CloudFront's standard logs are delivered with ACLs, so they get a bucket of their own; the
        # S3 access logs stay on a policy-only bucket.
        self.cdn_logs = private_bucket(self, "CdnLogs", logs=self.access_logs, lifecycle_rules=expire,
                                       object_ownership=s3.ObjectOwnership.OBJECT_WRITER)
        acknowledge(self.access_logs, {"AwsSolutions::AwsSolutions-S1": "This is the access-log bucket; logging "
                                                                         "it into itself would loop."})
        self.status_bucket = private_bucket(self, "StatusBucket", logs=self.access_logs)
        self.reports_bucket = private_bucket(self, "ReportsBucket", logs=self.access_logs, versioned=True)
        self.distribution = cloudfront.Distribution(
            self, "StatusPage",
            comment=f"{prefix} status page",
            default_root_object="index.html",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.status_bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                cache_policy=cloudfront.CachePolicy.USE_ORIGIN_CACHE_CONTROL_HEADERS),
            web_acl_id=web_acl_arn,
            enable_logging=True, log_bucket=self.cdn_logs, log_file_prefix="status-page/",
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
        )
        if web_acl_arn is None:
            acknowledge(self.distribution, {
                "AwsSolutions::AwsSolutions-CFR2": "This deployment's WebACL is REGIONAL (it protects the application's "
                                                   "load balancer or API) or a member account's, and cannot front this "
                                                   "account's distribution; the status page is static objects from a "
                                                   "private bucket."})
        acknowledge(self.distribution, {
            "AwsSolutions::AwsSolutions-CFR1": "The status page is for every user, wherever they are.",
            "AwsSolutions::AwsSolutions-CFR4": "Served on the CloudFront domain with its default certificate; a "
                                               "custom domain with TLS 1.2+ is configured where the app's DNS lives.",
        })

        self.dead_letters, self.handler = capability_function(
            self, name="reporting", prefix=prefix, shared=shared, retry_attempts=retry_attempts, max_event_age=max_event_age,
            environment={"STATUS_BUCKET": self.status_bucket.bucket_name,
                         "REPORTS_BUCKET": self.reports_bucket.bucket_name, **environment},
            # One render at a time: two racing renders could leave the older status last.
            reserved_concurrency=1,
            # The reports' trends and the baseline job read the alarms' metrics (neither call has a
            # resource scope).
            unscoped_actions=("cloudwatch:GetMetricData",
                              *(("cloudwatch:GetMetricStatistics",) if baseline_alarms else ())),
        )
        # Exactly the objects it writes (and the one it reads back to skip unchanged renders).
        role = self.handler.role
        role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"],
                                               resources=[self.status_bucket.arn_for_objects("status.json")]))
        role.add_to_policy(iam.PolicyStatement(actions=["s3:PutObject"], resources=[
            self.status_bucket.arn_for_objects("status.json"), self.status_bucket.arn_for_objects("index.html")]))
        role.add_to_policy(iam.PolicyStatement(actions=["s3:PutObject"], resources=[
            self.reports_bucket.arn_for_objects("reports/*"), self.reports_bucket.arn_for_objects("incidents/*")]))
        if baseline_alarms:
            # Exactly the alarms whose thresholds follow their history.
            role.add_to_policy(iam.PolicyStatement(
                actions=["cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm"],
                resources=[Stack.of(self).format_arn(service="cloudwatch", resource="alarm", resource_name=name,
                                                     arn_format=ArnFormat.COLON_RESOURCE_NAME)
                           for name in baseline_alarms]))
        reports_arn = f"<{Stack.of(self).get_logical_id(self.reports_bucket.node.default_child)}.Arn>"  # type: ignore[arg-type]
        acknowledge(role, {
            f"AwsSolutions::AwsSolutions-IAM5[Resource::{reports_arn}/reports/*]": "Period reports are keyed by "
                "period and date (reports/daily/2026-11-25.md): written only under this prefix, never read.",
            f"AwsSolutions::AwsSolutions-IAM5[Resource::{reports_arn}/incidents/*]": "Incident reports are keyed by "
                "year and incident id: written only under this prefix, never read.",
        })

