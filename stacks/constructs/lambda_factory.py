"""The one place that builds a control-plane Lambda: runtime, architecture, JSON logging, tracing,
log retention, async retry/age/failure destination, layers and the Powertools environment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from controlplane.events import function_name as deployed_name
from stacks.bytecode import function_code, layer_code
from stacks.constructs.nag import acknowledge

# The newest runtime the tests can run on: `make setup` builds the test environment on this Python
# (tests/unit/test_runtime.py holds the two together).
RUNTIME = lambda_.Runtime.PYTHON_3_13
RUNTIME_TAG = "python3.13"
POLICY_MOUNT = "/opt/policy/policy.json"


@dataclass(frozen=True)
class SharedLayers:
    """Layers every function gets: our shared package, the compiled policy and Powertools."""

    layers: tuple[lambda_.ILayerVersion, ...]
    config_version: str


def shared_layers(scope: Construct, *, policy_dir: Path, config_version: str, powertools_version: str) -> SharedLayers:
    common = lambda_.LayerVersion(
        scope, "CommonLayer",
        code=lambda_.Code.from_asset(str(layer_code())),
        compatible_runtimes=[RUNTIME],
        compatible_architectures=[lambda_.Architecture.ARM_64],
        description="controlplane package shared by the control-plane functions",
    )
    policy = lambda_.LayerVersion(
        scope, "PolicyLayer",
        code=lambda_.Code.from_asset(str(policy_dir)),
        compatible_runtimes=[RUNTIME],
        description=f"compiled control-plane policy, config version {config_version}",
    )
    # The official Powertools layer, resolved at deploy time from AWS's public SSM parameter for
    # exactly the version pinned in requirements.txt (the version the tests ran against).
    powertools_arn = ssm.StringParameter.value_for_string_parameter(
        scope, f"/aws/service/powertools/python/arm64/{RUNTIME_TAG}/{powertools_version}"
    )
    powertools = lambda_.LayerVersion.from_layer_version_arn(scope, "PowertoolsLayer", powertools_arn)
    return SharedLayers(layers=(common, policy, powertools), config_version=config_version)


class ControlPlaneFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        prefix: str,
        shared: SharedLayers,
        environment: dict[str, str],
        failure_queue: sqs.IQueue,
        retry_attempts: int,
        max_event_age: Duration,
        timeout_seconds: int = 30,
        memory_mib: int = 512,
        reserved_concurrency: int | None = None,
        unscoped_actions: tuple[str, ...] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self.function_name = function_name = deployed_name(prefix, name)
        self.log_group = logs.LogGroup(
            self, "Logs",
            log_group_name=f"/aws/lambda/{function_name}",
            retention=logs.RetentionDays.ONE_MONTH,  # runbook: logs kept 30 days
            removal_policy=RemovalPolicy.RETAIN,
        )
        # A role of our own instead of AWSLambdaBasicExecutionRole: logs only to its own group.
        self.role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        self.role.add_to_policy(iam.PolicyStatement(
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[self.log_group.log_group_arn],
        ))
        self.function = lambda_.Function(
            self, "Function",
            function_name=function_name,
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(function_code(name))),
            role=self.role,
            layers=list(shared.layers),
            memory_size=memory_mib,
            reserved_concurrent_executions=reserved_concurrency,
            timeout=Duration.seconds(timeout_seconds),
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            tracing=lambda_.Tracing.ACTIVE,
            on_failure=destinations.SqsDestination(failure_queue),
            retry_attempts=retry_attempts,
            max_event_age=max_event_age,
            environment={
                "POWERTOOLS_SERVICE_NAME": name,
                "POWERTOOLS_METRICS_NAMESPACE": "OpsControlPlane",
                "POLICY_PATH": POLICY_MOUNT,
                "CONFIG_VERSION": shared.config_version,
                **environment,
            },
        )
        if unscoped_actions:
            self.role.add_to_policy(iam.PolicyStatement(actions=list(unscoped_actions), resources=["*"]))
        unscoped = ", ".join(("xray:PutTraceSegments", "xray:PutTelemetryRecords", *unscoped_actions))
        acknowledge(self.role, {
            "AwsSolutions::AwsSolutions-IAM5[Resource::*]": f"{unscoped} accept no resource scope (AWS offers none); "
                                                            "every other statement of this role names its resources.",
        })
        acknowledge(self.function, {
            "Serverless::Serverless-LambdaDLQ": "Failed async invocations go to an SQS on-failure destination, which "
                                                "keeps the error and request context; a DLQ as well would deliver "
                                                "every failure twice.",
        })
        newest_tested = (f"{RUNTIME_TAG} is the newest Python the test suite runs on (make setup builds it on that "
                         "interpreter): a newer runtime would deploy code no test has executed.")
        acknowledge(self.function, {"Serverless::Serverless-LambdaLatestVersion": newest_tested,
                                    "AwsSolutions::AwsSolutions-L1": newest_tested})
