"""CDK entry: load the config, build the stacks, register cdk-nag, synth. No AWS calls."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT / "layers" / "common" / "python"), str(ROOT)]

import aws_cdk as cdk  # noqa: E402
from aws_lambda_powertools.shared.version import VERSION as POWERTOOLS_VERSION  # noqa: E402
from cdk_nag import AwsSolutionsChecks, ServerlessChecks  # noqa: E402

from controlplane.config import ControlPlaneConfig, load_config  # noqa: E402
from controlplane.errors import ConfigError  # noqa: E402
from controlplane.events import stack_name  # noqa: E402
from stacks.control_plane_stack import ControlPlaneStack  # noqa: E402


def feature_flags() -> dict[str, object]:
    """cdk.json's feature flags (the current CDK defaults a new app gets): `python app.py`, the tests
    and the CDK CLI all synthesize with them."""
    context = json.loads((ROOT / "cdk.json").read_text(encoding="utf-8"))["context"]
    return {key: value for key, value in context.items() if key.startswith("@aws-cdk")}


def build_app(config: ControlPlaneConfig, outdir: str | None = None) -> cdk.App:
    context = feature_flags()
    app = cdk.App(outdir=outdir, context=context) if outdir else cdk.App(context=context)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(), ServerlessChecks())
    ControlPlaneStack(
        app, stack_name(config.prefix),
        config=config,
        powertools_version=POWERTOOLS_VERSION,
        env=cdk.Environment(account=config.account, region=config.region),
        description=f"Ops Control Plane for {config.app} ({config.environment})",
    )
    cdk.Tags.of(app).add("app", config.app)
    cdk.Tags.of(app).add("environment", config.environment)
    return app


def main() -> None:
    probe = cdk.App()
    environment = probe.node.try_get_context("environment") or "demo"
    try:
        config = load_config(ROOT / "config" / f"{environment}.yaml")
    except ConfigError as error:
        sys.exit(f"config error: {error}")
    # The CDK CLI tells the app where to write (CDK_OUTDIR); `python app.py` alone writes to cdk.out.
    build_app(config, outdir=None if "CDK_OUTDIR" in os.environ else str(ROOT / "cdk.out")).synth()


if __name__ == "__main__":
    main()
