"""The whole suite on both cores: the e2e tier and the other tiers as two pytest processes at once,
each recording the AWS calls its tests make (--calls-out), then the IAM audit in a third, on the
calls both recorded (--calls-in). The audit sees every test's calls, as in one process.

    python tools/run_tests.py [pytest options for both halves, e.g. -x]

Each half's output is kept in .pytest-calls/<half>.log and printed when it ends. The exit status is
the first non-zero one of the three runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".pytest-calls"
# About half the suite's time each (the e2e tier is the replays, the fuzzing and the fault sweep).
HALVES = {"e2e": ["tests/e2e"], "rest": ["tests/unit", "tests/integration", "tests/infra"]}


def main(options: list[str]) -> int:
    WORK.mkdir(exist_ok=True)
    pytest = [sys.executable, "-m", "pytest"]
    running = {}
    for half, paths in HALVES.items():
        (WORK / f"{half}.json").unlink(missing_ok=True)  # an earlier run's calls are not this one's
        log = (WORK / f"{half}.log").open("w", encoding="utf-8")
        running[half] = (subprocess.Popen(
            [*pytest, *paths, "-m", "not iam_audit", "--calls-out", str(WORK / f"{half}.json"), *options],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT), log)
    codes = []
    for half, (process, log) in running.items():
        codes.append(process.wait())
        log.close()
        print(f"===== {half} (pytest {' '.join(HALVES[half])}) =====", flush=True)
        print((WORK / f"{half}.log").read_text(encoding="utf-8"), flush=True)
    audit = subprocess.run([*pytest, "tests/infra/test_iam.py", "-m", "iam_audit", *options,
                            *(f"--calls-in={WORK / f'{half}.json'}" for half in HALVES)], cwd=ROOT).returncode
    return next((code for code in (*codes, audit) if code), 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
