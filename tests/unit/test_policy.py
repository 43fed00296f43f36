"""The typed policy: every section the runtime reads, built from the JSON the compiler writes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controlplane.config import load_config
from controlplane.policy import Policy, Section
from paths import ROOT

SECTIONS = ("waf", "rollback", "guardrails", "capabilities", "severities", "escalation", "alarms", "classification",
            "intake", "maintenance", "status_page", "reports", "drill", "backup", "investigate", "noise")


def as_json(value: Any) -> Any:
    """A typed section as JSON again (sections as objects, tuples as lists), unset optionals left out."""
    if isinstance(value, Section):
        return {k: as_json(v) for k, v in vars(value).items() if v is not None}
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [as_json(v) for v in value]
    return value


@pytest.mark.parametrize("name", sorted(path.name for path in (ROOT / "config").glob("*.yaml")))
def test_every_section_is_typed_without_losing_a_key(name: str) -> None:
    """What the Lambdas read through the typed tree is exactly what synth wrote: no key dropped, none
    invented (a key the compiler adds must be declared on its dataclass, or this fails)."""
    raw = json.loads(json.dumps(load_config(ROOT / "config" / name).policy()))
    policy = Policy(raw)
    for section in SECTIONS:
        typed = as_json(getattr(policy, section))
        expected = json.loads(json.dumps(raw[section]), object_hook=lambda o: {k: v for k, v in o.items() if v is not None})
        assert typed == expected, section


def test_a_section_missing_a_field_fails_loudly() -> None:
    raw = load_config(ROOT / "config" / "demo.yaml").policy()
    del raw["waf"]["traffic_multiplier"]
    with pytest.raises(TypeError, match="WafPolicy: the policy has no traffic_multiplier"):
        _ = Policy(raw).waf


def test_the_multiplier_the_yaml_sets_is_the_one_the_runtime_reads() -> None:
    config = load_config(ROOT / "config" / "demo.yaml")
    raw = config.policy()
    assert Policy(raw).waf.traffic_multiplier == config.alarm("traffic-spike").multiplier


def test_a_section_is_read_only() -> None:
    policy = Policy(load_config(ROOT / "config" / "demo.yaml").policy())
    with pytest.raises(AttributeError, match="read-only"):
        policy.waf.limit = 1
