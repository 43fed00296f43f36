from datetime import datetime, timezone

from classification import classify
from controlplane.policy import Policy
from factories import eventbridge_alarm, transition_of
from notification import console_link, render_incident, subject_line

AT = datetime(2026, 11, 26, 14, 30, tzinfo=timezone.utc)


def test_incident_report_has_the_runbook_fields(config) -> None:
    policy = Policy(config.policy())
    spec = config.alarm("error-rate")
    transition = transition_of(eventbridge_alarm(spec.name, "ALARM", AT, value=12.0, description=spec.tagged_description))
    classification = classify(transition, policy)
    incident = {"id": "INC-2026-001", "severity": "P1", "status": "OPEN", "opened_at": "2026-11-26T14:30:00.000Z",
                "component": classification.component, "impact": classification.impact, "occurrences": 1}
    subject, message = render_incident("Opened", incident, transition, classification, policy, delayed=False)
    assert subject == "[P1] INC-2026-001 Opened: financeanalyst-pro-demo-error-rate"
    for line in ("**Incident ID:** INC-2026-001", "**Severity:** P1", "**Status:** Investigating",
                 "**Start Time:** 2026-11-26 14:30 UTC", "**Affected Systems:** Web Application",
                 "**Impact:** Some requests fail with server errors", "Respond within 60 minutes",
                 "OPERATIONS_RUNBOOK.md#standard-alert-investigation", transition.reason,
                 "#alarmsV2:alarm/financeanalyst-pro-demo-error-rate"):
        assert line in message


def test_subject_is_sns_safe() -> None:
    subject = subject_line("[P0] INC-2026-001 Opened: " + "ü" * 200 + "\nsecond line")
    assert len(subject) == 100 and subject.isascii() and "\n" not in subject


def test_console_link_escapes_the_alarm_name() -> None:
    transition = transition_of(eventbridge_alarm("team x/alarm#1", "ALARM", AT))
    assert console_link(transition).endswith("#alarmsV2:alarm/team%20x%2Falarm%231")
