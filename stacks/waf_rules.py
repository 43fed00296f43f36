"""The WebACL's shape, in the WAF API's (and CloudFormation's) own keys: used by the stack and by
the local runtime, so `opsctl replay` toggles the same rules that `cdk deploy` creates."""

from __future__ import annotations

from typing import Any

from controlplane.policy import WafPolicy


def _visibility(metric: str) -> dict[str, Any]:
    return {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": metric}


def web_acl_rules(waf: WafPolicy) -> list[dict[str, Any]]:
    """The pre-provisioned rate rule in COUNT (the toggle flips only its action), after a baseline
    rule that blocks oversized request bodies, so the toggle always has a neighbour to preserve."""
    return [
        {
            "Name": "block-oversized-bodies",
            "Priority": 0,
            "Statement": {"SizeConstraintStatement": {
                "FieldToMatch": {"Body": {"OversizeHandling": "MATCH"}}, "ComparisonOperator": "GT",
                "Size": 8192, "TextTransformations": [{"Priority": 0, "Type": "NONE"}]}},
            "Action": {"Block": {}},
            "VisibilityConfig": _visibility("block-oversized-bodies"),
        },
        {
            "Name": waf.rule_name,
            "Priority": 1,
            "Statement": {"RateBasedStatement": {
                "Limit": waf.limit, "EvaluationWindowSec": waf.evaluation_window_seconds,
                "AggregateKeyType": waf.aggregate_key}},
            "Action": {"Count": {}},
            "VisibilityConfig": _visibility(waf.rule_name),
        },
    ]


def web_acl_properties(waf: WafPolicy) -> dict[str, Any]:
    return {
        "Name": waf.web_acl_name,
        "Scope": waf.scope,
        "DefaultAction": {"Allow": {}},
        "Description": "Edge protection - the rate rule is toggled by the Ops Control Plane",
        "Rules": web_acl_rules(waf),
        "VisibilityConfig": _visibility(waf.web_acl_name),
    }
