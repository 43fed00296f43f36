"""A variant of config/production-api.example.yaml the tests need beside the example itself."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from paths import ROOT

API_EXAMPLE = ROOT / "config" / "production-api.example.yaml"
API_RAW: dict[str, Any] = yaml.safe_load(API_EXAMPLE.read_text())
LOAD_BALANCER = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/app/financeanalyst-api/50dc6c495c0c9188"


def with_hub_waf(raw: dict[str, Any]) -> dict[str, Any]:
    """The example with its WAF in the hub, as a single-account deployment in eu-west-1 has it: a
    REGIONAL WebACL the stack makes and associates with the hub's load balancer, triggered by the
    hub's traffic-spike alarm (the example's is the shared-services account's, a member's)."""
    raw = copy.deepcopy(raw)
    raw["waf"] = {key: value for key, value in raw["waf"].items()
                  if key not in ("account", "region", "existing_web_acl_id", "traffic_alarm")}
    raw["waf"] |= {"protects": [LOAD_BALANCER], "web_acl_name": "financeanalyst-api-production-edge"}
    raw["alarms"]["traffic-spike"]["remediation"] = "waf-rate-limit"
    return raw
