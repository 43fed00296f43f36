"""WAF rate limiting: the WebACL with its pre-provisioned rate rule (COUNT), the toggle Lambda on
ops-bus incident events and on our own stack's deploys, its follow-up schedules and the hourly
traffic baseline job."""

from __future__ import annotations

from aws_cdk import ArnFormat, CfnResource, Duration, Stack
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
        if waf.existing_web_acl_id:
            # Someone else's WebACL: its owner pre-provisions the rate rule (in COUNT), and our deploys
            # never write it. Without that rule the toggle fails closed with a blind-spot notice.
            self.web_acl_id = waf.existing_web_acl_id
            self.web_acl_arn = stack.format_arn(
                service="wafv2", resource="global/webacl" if waf.scope == "CLOUDFRONT" else "regional/webacl",
                resource_name=f"{waf.web_acl_name}/{self.web_acl_id}")
        else:
            web_acl = CfnResource(self, "WebAcl", type="AWS::WAFv2::WebACL", properties=web_acl_properties(waf))
            self.web_acl_id = web_acl.get_att("Id").to_string()
            self.web_acl_arn = web_acl.get_att("Arn").to_string()
            for index, resource_arn in enumerate(waf.protects):
                CfnResource(self, f"Protects{index}", type="AWS::WAFv2::WebACLAssociation",
                            properties={"ResourceArn": resource_arn, "WebACLArn": self.web_acl_arn})

        self.dead_letters, self.handler = capability_function(
            self, name="waf_toggle", prefix=prefix, shared=shared, environment={"WEB_ACL_ID": self.web_acl_id, **environment},
            retry_attempts=retry_attempts, max_event_age=max_event_age, follow_ups=follow_ups,
            # One at a time: no two toggles race, and pacing per process is pacing per account.
            reserved_concurrency=1,
        )

        # What the toggle does, and nothing else.
        role = self.handler.role
        role.add_to_policy(iam.PolicyStatement(actions=["wafv2:GetWebACL", "wafv2:UpdateWebACL"],
                                               resources=[self.web_acl_arn]))
        # Confirm before act: the trigger alarms' state, from CloudWatch; and the traffic alarm's,
        # which says when the spike is over.
        traffic_alarm = stack.format_arn(service="cloudwatch", resource="alarm", resource_name=waf.traffic_alarm,
                                         arn_format=ArnFormat.COLON_RESOURCE_NAME)
        role.add_to_policy(iam.PolicyStatement(
            actions=["cloudwatch:DescribeAlarms"],
            resources=[traffic_alarm, *(arn for arn in waf.trigger_alarm_arns
                                        if not arn.endswith(f":alarm:{waf.traffic_alarm}"))]))

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



def _blocked_requests_dimensions(waf: WafPolicy, region: str) -> dict[str, str]:
    """AWS/WAFV2 names a CLOUDFRONT WebACL's rule by WebACL and Rule, a REGIONAL one's by its Region too."""
    dimensions = {"WebACL": waf.web_acl_name, "Rule": waf.rule_name}
    return dimensions if waf.scope == "CLOUDFRONT" else {**dimensions, "Region": region}
