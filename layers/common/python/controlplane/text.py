"""Untrusted text (alarm names, reasons, descriptions, namespaces, dimensions: anyone who can create
an alarm or publish a message writes them) shown as data: one line, no control or escape characters,
capped. A reason holding a line "### Next Steps" or an ANSI escape cannot pass for our own words."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

DEFAULT_LIMIT = 300
_SPACES = re.compile(r"\s+")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]")  # terminal escape sequences, whole


def safe_text(value: Any, limit: int = DEFAULT_LIMIT) -> str:
    """One printable line of at most `limit` characters."""
    text = _ANSI.sub("", str(value))
    text = "".join(" " if unicodedata.category(c)[0] in "CZ" and c != " " else c for c in text)
    text = _SPACES.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quoted(value: Any, limit: int = DEFAULT_LIMIT) -> str:
    """`safe_text` in quotation marks: visibly someone else's words in a page, report or terminal."""
    return '"' + safe_text(value, limit).replace('"', "'") + '"'


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float]) -> str:
    """Values as eighths of their own range, one character each (a terminal's chart)."""
    if not values:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    return "".join(SPARK[min(len(SPARK) - 1, int((value - low) / span * len(SPARK)))] for value in values)
