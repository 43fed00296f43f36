"""`opsctl`: the operator CLI, and the local runtime behind `opsctl replay`."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
