"""IAM proven, both ways: every AWS call each function made in the integration and e2e tests is
allowed by that function's role in the synthesized template (action, resource and the conditions
AWS supplies), and every grant of those roles was used by some call or is listed below with why no
test can exercise it. Runs last (see tests/conftest.py), on the calls the other tests recorded."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from moto import mock_aws

from controlplane.config import load_config
from controlplane.policy import Policy
from iam_audit import Template, all_grants, audit, audit_assumed, of_deployment
from opsctl import deployment
from opsctl.replay import Replay
from opsctl.world import provision, use_fake_credentials
from paths import DEMO_CONFIG, ROOT

FUNCTIONS = deployment.functions(Policy(load_config(DEMO_CONFIG).policy()))
ORG_EXAMPLE = ROOT / "examples" / "multi-account.jsonl"

# Grants no test can exercise, with the reason, per (function, action). The audit fails when a grant is
# neither used nor listed (drop the grant, or say here why it stays), and when every grant of a listed
# pair was used after all (drop it here).
ON_ITS_BEHALF = {
    ("logs:CreateLogStream", "logs:PutLogEvents"): "the Lambda service writes the function's logs with its role",
    ("xray:PutTraceSegments", "xray:PutTelemetryRecords"): "the Lambda service sends the function's traces with its role",
    ("sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"):
        "the Lambda service sends failed asynchronous invocations to the function's on-failure destination (its DLQ) "
        "with its role; CDK's destination grant adds the two reads",
    ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"):
        "DynamoDB and SNS use the control plane's key on the caller's behalf for every ledger read and write and "
        "every page (the emulator makes no KMS calls, so no test sees them)",
}
# Functions that park what they refuse on their dead-letter queue themselves (a test sees those sends).
PARK_THEIR_OWN = {("triage", "sqs:SendMessage"), ("pagerduty", "sqs:SendMessage")}
UNEXERCISED = {(function, action): reason for function in FUNCTIONS
               for actions, reason in ON_ITS_BEHALF.items() for action in actions
               if (function, action) not in PARK_THEIR_OWN} | {
    ("outbox_relay", action): "the ledger stream's event-source mapping reads the stream with the relay's role"
    for action in ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams")
} | {
    (function, "sns:Publish"): "pages go to the topic of the severity the decision calls for (an incident's severity "
                               "comes from the config): every severity topic, of which the tests reach some"
    for function in ("waf_toggle", "rollback")} | {
    ("rollback", "cloudwatch:DescribeAlarms"): "confirms the alarm of the incident it acts on: one grant per alarm "
                                               "mapped to a target; the tests roll back through two of the four",
    ("calendar", "logs:StopQuery"): "stops a Logs Insights query still running when the checklist must go out; "
                                    "the emulator answers at once"}


@pytest.fixture(scope="module")
def deployed(template_path: Path, config) -> Template:
    return Template(json.loads(template_path.read_text()), config.account, config.region)


def replay_everything(config) -> None:
    """A partial run (one file, -k) recorded too little to judge: replay every example and every
    event of AWS's own shapes, which reaches each function."""
    for example in sorted(set((ROOT / "examples").glob("*.jsonl")) - {ORG_EXAMPLE}):  # that one is the org config's
        Replay(config, out=io.StringIO()).run(iter(example.read_text().splitlines()))
    corpus = [json.dumps(json.loads(p.read_text())) for p in sorted((ROOT / "tests" / "events").glob("*.json"))]
    Replay(config, traffic_history=False, out=io.StringIO()).run(iter(corpus))
    # The weekly fire drill, which no example contains (its schedule fires it); a request to the
    # PagerDuty webhook's URL (unsigned: refused after reading the signing secrets).
    Replay(config, out=io.StringIO()).run(iter([
        json.dumps({"task": "drill", "at": "2026-11-24T15:00:00Z"}),
        json.dumps(json.loads((ROOT / "tests" / "events" / "pagerduty" / "function-url-request.json").read_text()))]))


def world_names(deployed: Template, config, workdir: Path) -> dict[str, str]:
    """Names and ids the local world uses → what the deployed stack has in their place. Functions
    learn resources from their environment: each setting of the world is mapped to what the
    template's environment variable resolves to; and ids AWS assigns at deploy (CloudFront
    distributions) to the ones the config names."""
    use_fake_credentials()
    with mock_aws():
        world = provision(config, config.policy(), workdir=workdir)
    deployed_env = deployed.function_environment(f"{config.prefix}-reporting")
    local_env = {"STATUS_BUCKET": world.settings.status_bucket, "REPORTS_BUCKET": world.settings.reports_bucket,
                 "LEDGER_TABLE": world.settings.ledger_table, "OPS_BUS_NAME": world.settings.ops_bus_name}
    names = {re.escape(local): str(deployed_env[key]) for key, local in local_env.items()
             if local and deployed_env.get(key) != local}
    # moto assigns each world's distributions and WebACLs new ids; a config names each static site's,
    # and an existing WebACL's.
    for site in (spec for spec in config.policy()["rollback"]["targets"].values() if "distribution_id" in spec):
        names[r"distribution/[A-Z0-9]+$"] = f"distribution/{site['distribution_id']}"
    if config.waf["existing_web_acl_id"]:
        names[f"webacl/{config.waf['web_acl_name']}/[0-9a-f-]{{36}}$"] = (
            f"webacl/{config.waf['web_acl_name']}/{config.waf['existing_web_acl_id']}")
    return names


@pytest.fixture(scope="module")
def local_names(deployed: Template, config, tmp_path_factory) -> dict[str, str]:
    return world_names(deployed, config, tmp_path_factory.mktemp("iam"))


@pytest.mark.iam_audit
def test_every_call_is_allowed_by_its_functions_role(recorded_calls, deployed: Template, config, local_names) -> None:
    recorder, whole_run = recorded_calls
    if not whole_run:
        replay_everything(config)
    assert {call.function for call in of_deployment(recorder.calls, config.prefix)} == set(FUNCTIONS), \
        "every function was exercised"
    denied, _ = audit(recorder.calls, deployed, config.prefix, local_names)
    assert denied == {}, "calls the role does not allow:\n" + json.dumps(denied, indent=1)


@pytest.mark.iam_audit
def test_every_grant_is_used_or_explained(recorded_calls, deployed: Template, config, local_names) -> None:
    recorder, whole_run = recorded_calls
    granted = {(grant.function, grant.action) for grant in all_grants(deployed, config.prefix, FUNCTIONS)}
    assert set(UNEXERCISED) <= granted, "an explained grant the template no longer has: drop it from UNEXERCISED"
    if not whole_run:
        replay_everything(config)
    _, unused = audit(recorder.calls, deployed, config.prefix, local_names)
    unexplained = sorted(f"{g.function}: {g.action} on {g.resource}" for g in unused
                         if (g.function, g.action) not in UNEXERCISED)
    assert unexplained == [] or not whole_run, \
        "grants no test used (remove them, or explain them in UNEXERCISED):\n" + "\n".join(unexplained)
    if whole_run:
        used_after_all = sorted(set(UNEXERCISED) - {(g.function, g.action) for g in unused})
        assert used_after_all == [], f"listed as unexercised but every grant of it was used: drop {used_after_all}"


# --- the organization (config/production-api.example.yaml): the hub's roles and the spokes' ----------

def replay_the_organization(org_config) -> None:
    """A partial run: the multi-account day, which reaches the coverage function and the spoke roles."""
    Replay(org_config, out=io.StringIO()).run(iter(ORG_EXAMPLE.read_text().splitlines()))


@pytest.mark.iam_audit
def test_the_organizations_calls_are_allowed_by_the_hub_roles_and_the_spoke_role(recorded_calls, org_stack,
                                                                                 org_config, tmp_path) -> None:
    """Under the organization's config: every hub function's call against its role in the hub's
    template, and every call made with a member account's remediation role against that role as the
    spoke template (the StackSet's body) gives it in that account."""
    recorder, whole_run = recorded_calls
    if not whole_run:
        replay_the_organization(org_config)
    hub = Template(org_stack.template, org_config.account, org_config.region)
    names = world_names(hub, org_config, tmp_path)
    denied, _ = audit(recorder.calls, hub, org_config.prefix, names)
    assert denied == {}, "calls the hub roles do not allow:\n" + json.dumps(denied, indent=1)
    assert "coverage" in {call.function for call in of_deployment(recorder.calls, org_config.prefix)}
    policy = Policy(org_config.policy())
    [stack_set] = [r["Properties"] for r in org_stack.template["Resources"].values()
                   if r["Type"] == "AWS::CloudFormation::StackSet"]
    spoke = json.loads(stack_set["TemplateBody"])
    denied, unused = audit_assumed(recorder.calls, spoke, policy.organization.role_name, policy.organization.regions[0],
                                   names)
    assert denied == {}, "calls the spoke role does not allow:\n" + json.dumps(denied, indent=1)
    principals = {call.principal.split(":")[4] for call in recorder.calls if call.principal}
    assert "222233334444" in principals, "the rollback in the checkout account ran with its spoke role"
    # Every grant of the checkout account's role was used: its alarms read, its alias switched.
    assert sorted(f"{g.action} on {g.resource}" for g in unused if g.function.split(":")[4] == "222233334444") == []
    # The WAF block and its lifting in the shared-services account ran with its role: its WebACL grants used.
    assert "444455556666" in principals
    assert [g.action for g in unused if g.function.split(":")[4] == "444455556666" and g.action.startswith("wafv2:")] == []
