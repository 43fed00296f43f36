"""Configuration drift (the runbook's P2): AWS Config's managed rule runs CloudFormation drift
detection on every stack of the account, on its schedule and when a stack changes; each change of a
stack's verdict lands on the default bus, where triage's rule takes those of the watched stacks
(controlplane.events.drift_pattern) and opens, or resolves, a P2 per stack.

The managed rule rather than our own scheduled DetectStackDrift: drift detection reads every
resource of a stack with the caller's permissions, so whoever runs it needs read access to the
whole account. That is the Config rule's role here (AWS's ReadOnlyAccess, as the rule's
documentation asks), assumable by AWS Config only; none of our functions holds it."""

from __future__ import annotations

from aws_cdk import aws_config as config
from aws_cdk import aws_iam as iam
from constructs import Construct

from controlplane.events import DRIFT_MANAGED_RULE
from controlplane.policy import DriftPolicy
from stacks.constructs.nag import acknowledge


class DriftDetection(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, drift: DriftPolicy) -> None:
        super().__init__(scope, construct_id)
        role = iam.Role(self, "DetectionRole", assumed_by=iam.ServicePrincipal("config.amazonaws.com"),
                        description="AWS Config's drift check: reads the stacks' resources to compare them with their templates",
                        managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("ReadOnlyAccess")])
        acknowledge(role, {
            "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/ReadOnlyAccess]":
                "CloudFormation drift detection describes every resource of a stack with the caller's permissions; "
                "AWS Config's CLOUDFORMATION_STACK_DRIFT_DETECTION_CHECK asks for a role with ReadOnlyAccess. Read "
                "only, and only AWS Config may assume it.",
        })
        config.CfnConfigRule(
            self, "Rule", config_rule_name=drift.rule_name,
            description=f"Drift of {', '.join(drift.stacks)} from their templates → the control plane's triage (P2)",
            source=config.CfnConfigRule.SourceProperty(owner="AWS", source_identifier=DRIFT_MANAGED_RULE),
            input_parameters={"cloudformationRoleArn": role.role_arn},
            scope=config.CfnConfigRule.ScopeProperty(compliance_resource_types=["AWS::CloudFormation::Stack"]),
            maximum_execution_frequency=drift.frequency)
