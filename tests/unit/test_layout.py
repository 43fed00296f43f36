"""ruff sorts imports by what is ours: its first-party list names every module a function, a test or
the CLI imports by its bare name, and nothing that is gone."""

from __future__ import annotations

import tomllib

from paths import ROOT


def test_ruffs_first_party_list_is_the_project_s_modules() -> None:
    configured = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["ruff"]["lint"]["isort"]
    ours = {"controlplane", "opsctl", "stacks", "app"}
    ours |= {path.stem for path in (ROOT / "functions").glob("*/*.py") if path.stem != "handler"}
    ours |= {path.stem for path in (ROOT / "tests").glob("*.py") if path.stem != "__init__"}
    assert set(configured["known-first-party"]) == ours
