"""Our code as Lambda loads it: the source with its bytecode beside it.

Lambda's code is read-only, so Python cannot write `__pycache__` there: without bytecode in the
asset, every cold start compiles our modules again (measured: about a third of a function's own
import time). The assets carry bytecode compiled by the runtime's Python version, `unchecked-hash`
(Lambda's unzipped timestamps are not the source's, so a timestamp check would always fail), with
the paths Lambda runs them from, so the bytes — and the asset hashes — are the same on every machine.
Rebuilt from the source at every synth; `make bench` imports the same copies."""

from __future__ import annotations

import compileall
import py_compile
import shutil
import sys
from functools import cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BUILD = REPO_ROOT / ".build" / "code"
LAMBDA_PYTHON = (3, 13)  # the runtime's (stacks/constructs/lambda_factory.py RUNTIME)


@cache
def compiled(source: Path, runs_from: str) -> Path:
    """A copy of `source` (relative to the repository) with bytecode for the Lambda runtime's
    Python, as found at `runs_from` in Lambda. On another Python, the plain copy: still correct."""
    destination = BUILD / source.relative_to(REPO_ROOT)
    shutil.rmtree(destination, ignore_errors=True)
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if sys.version_info[:2] == LAMBDA_PYTHON:
        compileall.compile_dir(str(destination), quiet=1, ddir=runs_from,
                               invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    return destination


def function_code(name: str) -> Path:
    return compiled(REPO_ROOT / "functions" / name, "/var/task")


def layer_code() -> Path:
    """The shared layer: `python/` lands in /opt/python."""
    return compiled(REPO_ROOT / "layers" / "common", "/opt")
