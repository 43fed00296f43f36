"""The Python that runs in Lambda is the Python the tests run."""

import sys

from stacks.constructs.lambda_factory import RUNTIME, RUNTIME_TAG


def test_the_functions_deploy_on_the_python_running_these_tests() -> None:
    running = f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert RUNTIME.name == RUNTIME_TAG
    assert RUNTIME_TAG == running, f"the tests run on {running}, the functions deploy on {RUNTIME_TAG}: `make setup` " \
                                   "builds .venv on the Lambda runtime's Python"
