"""The hub's side of an organization (config `organization:`): the intake bus the spokes forward to,
the right of the hub's functions to assume the spokes' remediation roles, and the service-managed
StackSet that deploys the spoke (stacks/spoke_stack.py) to the organizational units, in every
watched Region, and to every account that joins them later (automatic deployment).

The StackSet is CloudFormation's own resource (`AWS::CloudFormation::StackSet`), not the
`cdk-stacksets` construct library: that library's value is shipping a spoke's assets (Lambda code)
to per-Region buckets, and our spoke has none; its template is synthesized here, checked by
cdk-nag like the hub's, and given as the StackSet's body. One dependency fewer, and the template
the member accounts get is in `cdk.out` for review."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from aws_cdk import App, Fn, Stack, Validations
from aws_cdk import aws_cloudformation as cloudformation
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from constructs import Construct

from controlplane.events import intake_bus_name, spoke_stack_set_name
from controlplane.policy import Policy
from stacks.spoke_stack import HUB_PRINCIPALS, SpokeStack

# CloudFormation's limit on a template given as a body (TemplateBody).
TEMPLATE_BODY_LIMIT = 51_200


def spoke_template(policy: Policy, forwarded: dict[str, dict[str, Any]], context: dict[str, Any]) -> dict[str, Any]:
    """The spoke's template, synthesized in an app of its own with the hub's feature flags and
    cdk-nag's checks (a finding fails the hub's synth)."""
    outdir = tempfile.mkdtemp(prefix="spoke-")
    try:
        app = App(outdir=outdir, context=context)
        Validations.of(app).add_plugins(AwsSolutionsChecks(), ServerlessChecks())
        stack = SpokeStack(app, "Spoke", policy=policy, forwarded=forwarded,
                           description=f"Ops Control Plane spoke of {policy.prefix} (hub {policy.account} {policy.region})")
        try:
            assembly = app.synth()
        except RuntimeError as error:
            # Its report is in the temporary outdir, deleted below: say what it found.
            report = Path(outdir) / "validation-report.json"
            raise RuntimeError(f"the spoke template fails its checks: {report.read_text(encoding='utf-8')}"
                               if report.exists() else str(error)) from error
        return dict(assembly.get_stack_by_name(stack.stack_name).template)
    finally:
        shutil.rmtree(outdir, ignore_errors=True)


class OrganizationHub(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, policy: Policy, forwarded: dict[str, dict[str, Any]],
                 assumers: list[iam.IRole]) -> None:
        """`assumers`: the hub functions that look or act in member accounts (triage confirms a
        claim, rollback switches a target, coverage checks the role)."""
        super().__init__(scope, construct_id)
        prefix, organization, stack = policy.prefix, policy.organization, Stack.of(self)
        bus_name = intake_bus_name(prefix)
        self.bus = events.EventBus(self, "IntakeBus", event_bus_name=bus_name)
        # The bus's own Policy property: the organization's principals may put (the spokes' forwarding
        # roles); nobody outside it, whatever their IAM says. The events' `account` is the putter's,
        # set by EventBridge, and triage hears only the configured accounts and Regions.
        bus_arn = stack.format_arn(service="events", resource="event-bus", resource_name=bus_name)
        bus = self.bus.node.default_child
        assert isinstance(bus, events.CfnEventBus)
        bus.add_property_override("Policy", {"Version": "2012-10-17", "Statement": [{
            "Sid": "OrganizationSpokesForward", "Effect": "Allow", "Principal": "*", "Action": "events:PutEvents",
            "Resource": bus_arn, "Condition": {"StringEquals": {"aws:PrincipalOrgID": organization.id}}}]})

        # Each of them may assume exactly the members' remediation roles (one name in every member).
        roles = [organization.role_arn(account) for account in organization.accounts]
        for role in assumers:
            role.add_to_principal_policy(iam.PolicyStatement(actions=["sts:AssumeRole"], resources=roles))

        template = spoke_template(policy, forwarded, self.node.root.node.get_all_context())
        self.template_body = json.dumps(template, separators=(",", ":"), sort_keys=True)
        if len(self.template_body) > TEMPLATE_BODY_LIMIT:
            raise ValueError(f"the spoke template is {len(self.template_body)} bytes, over CloudFormation's "
                             f"{TEMPLATE_BODY_LIMIT} for a template body")
        self.stack_set = cloudformation.CfnStackSet(
            self, "SpokeStackSet",
            stack_set_name=spoke_stack_set_name(prefix),
            description=f"Ops Control Plane spokes of {prefix}: forwarding, heartbeat, remediation role",
            permission_model="SERVICE_MANAGED",
            # The hub is the organization's delegated administrator for StackSets (docs/deploy.md).
            call_as="DELEGATED_ADMIN",
            auto_deployment=cloudformation.CfnStackSet.AutoDeploymentProperty(
                enabled=True, retain_stacks_on_account_removal=False),
            managed_execution={"Active": True},
            capabilities=["CAPABILITY_NAMED_IAM"],
            operation_preferences=cloudformation.CfnStackSet.OperationPreferencesProperty(
                region_concurrency_type="PARALLEL", max_concurrent_percentage=25, failure_tolerance_percentage=10),
            parameters=[cloudformation.CfnStackSet.ParameterProperty(
                parameter_key=HUB_PRINCIPALS, parameter_value=Fn.join(",", [role.role_arn for role in assumers]))],
            stack_instances_group=[cloudformation.CfnStackSet.StackInstancesProperty(
                deployment_targets=cloudformation.CfnStackSet.DeploymentTargetsProperty(
                    organizational_unit_ids=list(organization.units)),
                regions=list(organization.regions))],
            template_body=self.template_body,
        )
