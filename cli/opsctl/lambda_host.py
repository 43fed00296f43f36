"""Runs the real Lambda handlers in-process, as the Lambda runtime would import and call them."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from controlplane import runtime
from opsctl import REPO_ROOT

FUNCTIONS_DIR = REPO_ROOT / "functions"


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that Powertools reads."""

    function_name: str
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = ""
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def quiet_powertools() -> None:
    """Replay prints its own timeline: keep handler logs to warnings and errors (rejections show)."""
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "OpsControlPlane")


def load_handler(function: str) -> ModuleType:
    """Import functions/<function>/handler.py under a unique module name, its folder on sys.path
    (as /var/task is on Lambda), so each function's modules resolve as they do when deployed."""
    module_name = f"{function}_handler"
    if module_name in sys.modules:
        return sys.modules[module_name]
    folder = FUNCTIONS_DIR / function
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    os.environ["POWERTOOLS_SERVICE_NAME"] = function
    spec = importlib.util.spec_from_file_location(module_name, folder / "handler.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def function_module(function: str, module: str) -> ModuleType:
    """A module of a deployed function, imported as on Lambda (its folder on the path)."""
    load_handler(function)
    return importlib.import_module(module)


# The functions whose handlers are running (a handler may run another's); None: someone else's turn.
_running: list[str | None] = []


def running_function() -> str | None:
    """The function whose handler is running now: the AWS calls made are that function's, under its
    role (tests prove the role allows them)."""
    return _running[-1] if _running else None


@contextlib.contextmanager
def outside_functions() -> Iterator[None]:
    """AWS calls made inside are nobody's function's: a test playing a pipeline in the middle of a
    handler (they are not made with that function's role)."""
    _running.append(None)
    try:
        yield
    finally:
        _running.pop()


def invoke(function: str, event: Any, dependencies: runtime.Dependencies) -> Any:
    """Call the handler as Lambda would. Its EMF metric lines (printed to stdout, where CloudWatch
    would pick them up) are kept out of the replay's timeline."""
    runtime.install(dependencies)
    _running.append(function)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return load_handler(function).handler(event, LambdaContext(function_name=function))
    finally:
        _running.pop()
