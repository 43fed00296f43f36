"""Synthesize the demo app once per session (with cdk-nag registered, so synth fails on any
unacknowledged finding) and hand its template to the infra tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@pytest.fixture(scope="session")
def assembly_dir(tmp_path_factory: pytest.TempPathFactory, config) -> Path:
    from app import build_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    build_app(config, outdir=str(outdir)).synth()
    return outdir


@pytest.fixture(scope="session")
def template(assembly_dir: Path, config):
    import json

    from aws_cdk.assertions import Template

    body = json.loads((assembly_dir / f"{config.prefix}-control-plane.template.json").read_text())
    return Template.from_json(body)


@pytest.fixture(scope="session")
def template_path(assembly_dir: Path, config) -> Path:
    return assembly_dir / f"{config.prefix}-control-plane.template.json"


@pytest.fixture(scope="session")
def org_stack(tmp_path_factory: pytest.TempPathFactory, org_config):
    """Its synthesized hub stack (cdk-nag registered on the hub and on the spoke template)."""
    from app import build_app

    [stack] = build_app(org_config, outdir=str(tmp_path_factory.mktemp("cdk.out.org"))).synth().stacks
    return stack


@pytest.fixture(scope="session")
def org_template(org_stack):
    from aws_cdk.assertions import Template

    return Template.from_json(org_stack.template)
