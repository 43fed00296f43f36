"""The CloudWatch Synthetics canary of the runbook's morning "check system health" (`curl -f` of the
health URL), run every few minutes from AWS rather than once a day by us.

A run passes when the URL answers 2xx/3xx within the timeout, and fails (raises) otherwise: Synthetics
publishes each run as `CloudWatchSynthetics` `SuccessPercent` and `Duration` (dimension `CanaryName`),
which the health and availability alarms watch. Plain standard library: the Python runtime runs
this handler as it is; no browser is needed to ask for a health URL."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from typing import Any


def check(url: str, timeout_seconds: float) -> str:
    started = time.monotonic()
    request = urllib.request.Request(url, headers={"User-Agent": "ops-control-plane-canary"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_seconds) as response:
            status = response.status
    except urllib.error.HTTPError as error:  # 4xx and 5xx arrive as errors
        status = error.code
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise RuntimeError(f"{url}: no answer within {timeout_seconds:g} s ({error})") from error
    took_ms = (time.monotonic() - started) * 1000
    if not 200 <= status < 400:
        raise RuntimeError(f"{url}: HTTP {status} after {took_ms:.0f} ms")
    return f"{url}: HTTP {status} in {took_ms:.0f} ms"


def handler(event: Any, context: Any) -> str:
    return check(os.environ["HEALTH_URL"], float(os.environ.get("TIMEOUT_SECONDS", "10")))
