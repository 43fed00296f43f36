"""The ledger's key schema is spelled in one module (controlplane/keys.py): no other source file
names a key attribute, a partition or a key's shape, so changing one cannot miss a reader."""

from __future__ import annotations

import re
from pathlib import Path

from controlplane import keys
from controlplane.ledger import outbox_item
from paths import ROOT as REPO_ROOT

KEYS_MODULE = REPO_ROOT / "layers/common/python/controlplane/keys.py"
SOURCES = ("layers", "functions", "cli", "stacks", "bench", "app.py")
SPELLINGS = {
    "a key attribute": re.compile(r"""["'](pk|sk|gsi1pk|gsi1sk|gsi1)["']|\b(pk|sk|gsi1pk|gsi1sk) *(=|>=|<=|<|>) *:|\((pk|sk)\b"""),
    "a key's shape": re.compile(r"""f["'][A-Z_]+#"""),
    "a partition": re.compile(r"""["'](COUNTER|OUTBOX|SUSPICIOUS|BUDGET|CONTROL|BASELINE|MAINTENANCE|BACKUP|DRILL|INCIDENTS|"""
                              r"""DECISIONS|WINDOWS)["']|["'](ALARM|INCIDENT|CAUSED|DECISION|TARGET|REQUEST|DEPLOY|QUARANTINE|"""
                              r"""WINDOW|SUPPRESSED|CHECKLIST|REPORT|RESTORE|RESTORE_JOB|PAUSE)#"""),
}


def _sources() -> list[Path]:
    files: list[Path] = []
    for name in SOURCES:
        path = REPO_ROOT / name
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return [f for f in files if f != KEYS_MODULE]


def test_no_source_outside_the_key_module_spells_a_ledger_key() -> None:
    found = [f"{path.relative_to(REPO_ROOT)}:{number}: {what}: {line.strip()}"
             for path in _sources()
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
             for what, spelling in SPELLINGS.items() if spelling.search(line)]
    assert found == []


def test_the_scan_sees_a_spelled_key() -> None:
    """The patterns above catch the spellings the key module replaced (else the test above proves nothing)."""
    for line in ('Key=to_item({"pk": f"DECISION#{ident}", "sk": "META"})', 'KeyConditionExpression="pk = :p"',
                 'ConditionExpression="attribute_not_exists(pk)"', 'read_item(client, table, "BACKUP", "STATUS")'):
        assert any(spelling.search(line) for spelling in SPELLINGS.values()), line


def test_keys_of_different_things_never_collide() -> None:
    """Each builder's items live apart: the same argument never gives two builders one key."""
    builders = [keys.alarm, keys.incident, keys.caused, keys.decision, keys.target, keys.request, keys.baseline,
                keys.deploy_head, keys.window, keys.restore, keys.restore_job, keys.drill, keys.suspicious,
                keys.suspicious_paged, keys.pause, lambda x: keys.counter(2026), lambda x: keys.budget(x),
                lambda x: keys.quarantine("web", x), lambda x: keys.checklist("morning", x),
                lambda x: keys.report("weekly", x), lambda x: keys.suppressed("w", x, "alarm", "kind"),
                lambda x: keys.deploy_version("web", x, "v1"), lambda x: keys.outbox(x, "t")]
    argument = "2026-11-30T10:00:00Z"
    made = [builder(argument) for builder in builders] + [keys.KILL_SWITCH, keys.MAINTENANCE, keys.BACKUP_STATUS]
    assert len(set(made)) == len(made)


def test_an_outbox_item_tells_when_it_was_committed() -> None:
    item = outbox_item("2026-11-30T10:00:00.123Z", {"transition_id": "t#1|x"})
    assert keys.key_of(item) == keys.outbox("2026-11-30T10:00:00.123Z", "t#1|x")
    assert keys.committed_at(item) == "2026-11-30T10:00:00.123Z"
