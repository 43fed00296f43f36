"""Synthesize the demo app once per session (with cdk-nag registered, so synth fails on any
unacknowledged finding) and hand its template to the infra tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
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


@pytest.fixture(scope="session")
def cfn_lint() -> Callable[[Path], None]:
    """Lint a template with cfn-lint, failing on anything it reports (.cfnlintrc.yaml's one deliberate
    ignore, with its reason, applies: it runs from the repository)."""
    from paths import ROOT

    def lint(path: Path) -> None:
        result = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), str(path), "--format", "parseable"],
                                cwd=ROOT, capture_output=True, text=True, check=False)
        # cfn-lint's exit code is a bit field: 1 it could not run, 2 errors, 4 warnings, 8 informational.
        assert result.returncode & 1 == 0, f"cfn-lint did not run: {result.stderr}"
        assert result.returncode & 2 == 0, f"cfn-lint errors:\n{result.stdout}"
        assert result.returncode == 0, f"cfn-lint warnings (none expected):\n{result.stdout}"

    return lint
