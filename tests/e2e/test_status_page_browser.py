"""The status page in a real headless browser (Debian's chromium): it renders, and says the right
thing for an open P1, for maintenance, and when all is clear."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from factories import eventbridge_alarm
from opsctl import lambda_host

START = datetime(2026, 11, 25, 15, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium is needed for the status page test; `make setup` installs it (apt-get install chromium)"
    return found


def publish(harness, at: datetime, tmp_path: Path) -> Path:
    harness.clock.set(at)
    lambda_host.invoke("reporting", {"task": "status-page"}, harness.world.dependencies("reporting", harness.clock))
    s3 = harness.world.client("s3")
    folder = tmp_path / at.strftime("%H%M")
    folder.mkdir()
    for key in ("index.html", "status.json"):
        body = s3.get_object(Bucket=harness.world.settings.status_bucket, Key=key)["Body"].read()
        (folder / key).write_bytes(body)
    return folder / "index.html"


def browse(chromium: str, page: Path) -> tuple[str, bytes]:
    """The DOM as the browser built it, and a screenshot of it."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             f"--user-data-dir={page.parent / 'profile'}"]
    dom = subprocess.run([chromium, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    shot = page.parent / "page.png"
    subprocess.run([chromium, *flags, f"--screenshot={shot}", "--window-size=1024,768", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    return dom, shot.read_bytes()


def test_the_page_renders_the_right_status_in_a_browser(harness, chromium, tmp_path) -> None:
    calm, _ = browse(chromium, publish(harness, START, tmp_path))
    assert 'id="overall" class="overall operational" data-status="Operational"' in calm
    assert "All systems operational." in calm

    harness.triage(eventbridge_alarm("financeanalyst-pro-demo-availability", "ALARM", START, value=97.0), START)
    dom, screenshot = browse(chromium, publish(harness, START + timedelta(minutes=10), tmp_path))
    assert 'data-status="Investigating"' in dom and "<strong>Status:</strong> Investigating" in dom
    assert "Web Application: Users intermittently cannot reach the application" in dom
    assert '<tr data-component="Web Application"><td>Web Application</td><td class="status investigating">' in dom
    assert screenshot.startswith(b"\x89PNG") and len(screenshot) > 5_000

    harness.triage(eventbridge_alarm("financeanalyst-pro-demo-availability", "OK", START + timedelta(minutes=20),
                                     value=100.0), START + timedelta(minutes=20))
    harness.calendar({"task": "maintenance", "action": "enable", "message": "Emergency maintenance in progress",
                      "minutes": 60, "by": "alice"}, START + timedelta(minutes=60))
    dom, _ = browse(chromium, publish(harness, START + timedelta(minutes=61), tmp_path))
    assert 'data-status="Maintenance"' in dom and "Emergency maintenance in progress" in dom
    assert "<strong>Estimated Resolution:</strong> 2026-11-25 17:00 UTC" in dom

    dom, _ = browse(chromium, publish(harness, START + timedelta(minutes=125), tmp_path))
    assert 'data-status="Operational"' in dom and "All systems operational." in dom
