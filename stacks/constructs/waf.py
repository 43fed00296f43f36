"""WAF rate limiting: the WebACL with its pre-provisioned rate rule (COUNT), the toggle Lambda on
ops-bus incident events and on our own stack's deploys, its follow-up schedules and the hourly
traffic baseline job. A member account's WebACL is its owner's: the toggle reaches it through that
account's spoke role (stacks/spoke_stack.py), and the hub holds nothing of it but the toggle."""

from __future__ import annotations

from aws_cdk import CfnResource, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from constructs import Construct

from controlplane.policy import WafPolicy
from stacks.constructs.capability import capability_function
from stacks.constructs.follow_ups import FollowUpSchedules
from stacks.constructs.lambda_factory import SharedLayers
from stacks.waf_rules import web_acl_properties


class WafRateLimiting(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        prefix: str,
        waf: WafPolicy,
        shared: SharedLayers,
        follow_ups: FollowUpSchedules,
        environment: dict[str, str],
        retry_attempts: int,
        max_event_age: Duration,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.in_member = waf.account != stack.account
        if waf.existing_web_acl_id:
            # Someone else's WebACL: its owner pre-provisions the rate rule (in COUNT), and our deploys
            # never write it. Without that rule the toggle fails closed with a blind-spot notice.
            self.web_acl_id = waf.existing_web_acl_id
            arn = web_acl_arn(stack, waf)
        else:
            web_acl = CfnResource(self, "WebAcl", type="AWS::WAFv2::WebACL", properties=web_acl_properties(waf))
            self.web_acl_id = web_acl.get_att("Id").to_string()
            arn = web_acl.get_att("Arn").to_string()
            for index, resource_arn in enumerate(waf.protects):
                CfnResource(self, f"Protects{index}", type="AWS::WAFv2::WebACLAssociation",
                            properties={"ResourceArn": resource_arn, "WebACLArn": arn})
        # This account's distribution can take it, unless it is a member account's.
        self.web_acl_arn = None if self.in_member else arn

        self.dead_letters, self.handler = capability_function(
            self, name="waf_toggle", prefix=prefix, shared=shared, environment={"WEB_ACL_ID": self.web_acl_id, **environment},
            retry_attempts=retry_attempts, max_event_age=max_event_age, follow_ups=follow_ups,
            # One at a time: no two toggles race, and pacing per process is pacing per account.
            reserved_concurrency=1,
        )

        if self.in_member:
            return  # what it reads and writes there, the spoke role allows (the organization's grants)
        # What the toggle does, and nothing else.
        role = self.handler.role
        role.add_to_policy(iam.PolicyStatement(actions=["wafv2:GetWebACL", "wafv2:UpdateWebACL"], resources=[arn]))
        # Confirm before act: the trigger alarms' state, from CloudWatch; and the traffic alarm's,
        # which says when the spike is over.
        role.add_to_policy(iam.PolicyStatement(
            actions=["cloudwatch:DescribeAlarms"],
            resources=sorted({waf.traffic_alarm_arn, *waf.trigger_alarm_arns})))

        self.blocked_requests = cloudwatch.Alarm(
            self, "BlockedRequests",
            alarm_name=waf.side_effect_alarms[0],
            alarm_description="The rate rule is blocking requests (expected while a spike is being limited)",
            metric=cloudwatch.Metric(namespace="AWS/WAFV2", metric_name="BlockedRequests", statistic="Sum",
                                     period=Duration.minutes(5),
                                     dimensions_map=_blocked_requests_dimensions(waf, stack.region)),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )


def web_acl_arn(stack: Stack, waf: WafPolicy) -> str:
    """The ARN of the WebACL of a known Id (`existing_web_acl_id`), in the account and Region the
    config places it: a CLOUDFRONT one is global, and lives in us-east-1."""
    return stack.format_arn(
        service="wafv2", account=waf.account, region=waf.region,
        resource="global/webacl" if waf.scope == "CLOUDFRONT" else "regional/webacl",
        resource_name=f"{waf.web_acl_name}/{waf.existing_web_acl_id}")


def _blocked_requests_dimensions(waf: WafPolicy, region: str) -> dict[str, str]:
    """AWS/WAFV2 names a CLOUDFRONT WebACL's rule by WebACL and Rule, a REGIONAL one's by its Region too."""
    dimensions = {"WebACL": waf.web_acl_name, "Rule": waf.rule_name}
    return dimensions if waf.scope == "CLOUDFRONT" else {**dimensions, "Region": region}
