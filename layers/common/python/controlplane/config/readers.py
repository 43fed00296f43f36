"""Small typed readers of the YAML, whose errors name the key."""

from __future__ import annotations

import re
from typing import Any

from controlplane import cron
from controlplane.errors import ConfigError
from controlplane.settings import SEVERITIES

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: must be a mapping")
    return value


def _no_unknown(raw: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        place = f"{where}." if where else ""
        raise ConfigError(f"{place}{unknown[0]}: unknown key (allowed: {', '.join(sorted(allowed))})")


def _str(raw: dict[str, Any], key: str, where: str = "") -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where + '.' if where else ''}{key}: required, a non-empty string")
    return value


def _name(raw: dict[str, Any], key: str) -> str:
    value = _str(raw, key)
    if not _NAME.match(value):
        raise ConfigError(f"{key}: {value!r} must be lower-case letters, digits and dashes (max 31)")
    return value


def _int(raw: dict[str, Any], key: str, where: str) -> int:
    value = raw.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"{where}.{key}: required, a whole number")
    return value


def _number(raw: dict[str, Any], key: str, where: str) -> float:
    value = raw.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ConfigError(f"{where}.{key}: required, a number")
    return float(value)


def _severity(raw: dict[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if value not in SEVERITIES:
        raise ConfigError(f"{where}.{key}: {value!r} is not one of {', '.join(SEVERITIES)}")
    return str(value)


def validate_cron(expression: Any, where: str) -> str:
    """An EventBridge Scheduler expression, by the one grammar (controlplane.cron) the calendar reads."""
    reason = cron.problem(expression)
    if reason is not None:
        raise ConfigError(f"{where}: {reason}")
    return str(expression)
