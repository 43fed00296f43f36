"""The health canary's script (canary/python/health_check.py) against a local server: a 2xx or 3xx in
time passes, an error status or silence fails the run (Synthetics counts a raised exception as a
failed run, which is what SuccessPercent and the health alarm see)."""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType

import pytest

from paths import ROOT


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("health_check", ROOT / "canary" / "python" / "health_check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Answers(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = int(self.path.strip("/").split("/")[0])
        if self.path.endswith("/slow"):
            time.sleep(1.5)
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/200")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.mark.parametrize("status", [200, 204, 302])
def test_an_answer_in_time_passes(server: str, status: int) -> None:
    assert _script().check(f"{server}/{status}", 5).startswith(f"{server}/{status}: HTTP ")


@pytest.mark.parametrize("status", [404, 500, 503])
def test_an_error_status_fails_the_run(server: str, status: int) -> None:
    with pytest.raises(RuntimeError, match=f"HTTP {status} after"):
        _script().check(f"{server}/{status}", 5)


def test_silence_past_the_timeout_fails_the_run(server: str) -> None:
    with pytest.raises(RuntimeError, match=r"no answer within 0\.5 s"):
        _script().check(f"{server}/200/slow", 0.5)


def test_the_handler_reads_its_url_and_timeout_from_the_canary_environment(server: str, monkeypatch) -> None:
    monkeypatch.setenv("HEALTH_URL", f"{server}/503")
    monkeypatch.setenv("TIMEOUT_SECONDS", "5")
    with pytest.raises(RuntimeError, match="HTTP 503"):
        _script().handler({}, None)
