"""The `[ops: key=value …]` tag that our stacks write into an alarm's description and triage reads:
it carries the alarm's own severity, remediation hint and runbook section."""

from __future__ import annotations

import re

_TAG = re.compile(r"\[ops:([^\]]*)\]")


def format_tags(description: str, **tags: str) -> str:
    return f"{description}. [ops: " + " ".join(f"{k}={v}" for k, v in tags.items()) + "]"


def parse_tags(description: str) -> dict[str, str]:
    match = _TAG.search(description)
    if not match:
        return {}
    return dict(part.split("=", 1) for part in match.group(1).split() if "=" in part)
