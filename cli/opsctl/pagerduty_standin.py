"""A stand-in for PagerDuty's Events API v2 on 127.0.0.1: the replay and the tests have no network.

It checks each event as PagerDuty documents it (a 32-character routing key, an event action, a
dedup key of at most 255 characters, and for a trigger a payload with summary, source and one of
the four severities) and answers as PagerDuty does: 202 with the dedup key, or 400 with the
errors. It keeps what it took per routing key, so each world (each with keys of its own) reads
only its own. A test may script the next answers of a key: a status (429, 500, …) or 0 for a
connection closed without an answer."""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")


def errors_of(event: Any) -> list[str]:
    """What PagerDuty would refuse in `event` (empty: accepted)."""
    if not isinstance(event, dict):
        return ["Event object is invalid"]
    errors = []
    if not isinstance(event.get("routing_key"), str) or len(event["routing_key"]) != 32:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    if event.get("event_action") not in ACTIONS:
        errors.append("'event_action' is invalid (must be one of trigger, acknowledge, resolve)")
    dedup = event.get("dedup_key")
    if event.get("event_action") in ("acknowledge", "resolve") and not dedup:
        errors.append("'dedup_key' is required for acknowledge and resolve")
    if dedup is not None and (not isinstance(dedup, str) or len(dedup) > 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    if event.get("event_action") == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            return [*errors, "'payload' is missing or not an object"]
        for field in ("summary", "source"):
            if not isinstance(payload.get(field), str) or not payload[field]:
                errors.append(f"'payload.{field}' is missing or blank")
        if isinstance(payload.get("summary"), str) and len(payload["summary"]) > 1024:
            errors.append("'payload.summary' is longer than 1024 characters")
        if payload.get("severity") not in SEVERITIES:
            errors.append("'payload.severity' is invalid (must be one of critical, error, warning, info)")
        for link in event.get("links", []):
            if not isinstance(link, dict) or not isinstance(link.get("href"), str):
                errors.append("'links' entries need an href")
    return errors


class PagerDutyStandIn:
    def __init__(self) -> None:
        self.taken: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.answered: dict[str, list[int]] = defaultdict(list)  # every answer, per key (0: none)
        self.scripted: dict[str, list[int]] = defaultdict(list)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True, name="pagerduty-stand-in").start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v2/enqueue"

    def script(self, routing_key: str, *statuses: int) -> None:
        """The next answers to `routing_key`'s events, before the normal ones."""
        with self._lock:
            self.scripted[routing_key].extend(statuses)

    def _answer(self, raw: bytes) -> tuple[int, dict[str, Any] | None]:
        try:
            event = json.loads(raw)
        except ValueError:
            return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": ["not JSON"]}
        key = str(event.get("routing_key")) if isinstance(event, dict) else ""
        with self._lock:
            status = self.scripted[key].pop(0) if self.scripted.get(key) else None
            errors = errors_of(event)
            if status is None:
                status = 400 if errors else 202
            self.answered[key].append(status)
            if status == 202:
                self.taken[key].append(event)
        if status == 0:
            return 0, None
        if status == 202:
            return 202, {"status": "success", "message": "Event processed", "dedup_key": event.get("dedup_key")}
        if status == 400:
            return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors or ["scripted"]}
        return status, {"status": "error", "message": "scripted failure"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, body = stand_in._answer(raw)
                if status == 0:
                    self.close_connection = True  # no answer at all: the client sees the connection drop
                    return
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@cache
def stand_in() -> PagerDutyStandIn:
    """One per process, started on first use; worlds tell their events apart by routing key."""
    return PagerDutyStandIn()
