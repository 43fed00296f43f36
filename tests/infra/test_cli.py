"""The platform team's path, short of AWS: the CDK CLI pinned in package.json (run with Node from
.venv, as `make bootstrap|diff|deploy` run it) synthesizes every shipped config with no warning —
a CLI/library mismatch, a deprecated API, an unset feature flag or a broken wrapper fails here."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from controlplane.config import load_config
from paths import ROOT

CDK = ROOT / "node_modules" / ".bin" / "cdk"
SHIPPED = sorted(path.name.removesuffix(".yaml") for path in (ROOT / "config").glob("*.yaml"))


def cdk(*args: str) -> subprocess.CompletedProcess[str]:
    assert CDK.exists(), "`make cli` installs the pinned CDK CLI (npm ci)"
    env = os.environ | {"CDK_DISABLE_CLI_TELEMETRY": "true",
                        "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", None)  # Node 24 from .venv: no banner to silence
    return subprocess.run([str(CDK), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("environment", SHIPPED)
def test_the_pinned_cli_synthesizes_every_shipped_config_without_a_warning(environment: str, tmp_path: Path) -> None:
    synth = cdk("synth", "--quiet", "-c", f"environment={environment}", "-o", str(tmp_path))
    output = synth.stdout + synth.stderr
    assert synth.returncode == 0, output
    assert "warning" not in output.lower() and "deprecated" not in output.lower(), output
    listed = cdk("ls", "-a", str(tmp_path))
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == [f"{load_config(ROOT / 'config' / f'{environment}.yaml').prefix}-control-plane"]
