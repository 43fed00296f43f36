"""`make faults`: the examples replayed under injected faults, checked against their clean runs.

Per example: one clean run (which counts the writes the handlers make), then SEEDS seeded runs
(throttling on every call, a crash after some writes) and a sweep that crashes after each write in
turn. The five invariant counts (tests/faults.py, `divergence`) are summed over every run, printed,
and written to .bench/faults.json; the exit status is 1 when any is not zero."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "common" / "python"), str(ROOT), str(ROOT / "cli"), str(ROOT / "tests")]

from controlplane.config import load_config  # noqa: E402
from faults import COUNTS, FaultLog, FaultPlan, Outcome, divergence, run  # noqa: E402

EXAMPLES = ("incident-day", "bad-deploy", "traffic-spike", "maintenance-window", "stale-backup", "multi-account")
# The config each example is replayed with (config/demo.yaml unless named here).
CONFIG_OF = {"multi-account": "production-api.example"}
THROTTLE_RATE = 0.2  # per SDK attempt: a call fails when all three attempts are throttled (0.8 %)
CRASH_RATE = 0.05  # after each write


def lines_of(example: str) -> list[str]:
    return (ROOT / "examples" / f"{example}.jsonl").read_text(encoding="utf-8").splitlines()


@cache
def config_of(example: str) -> Any:
    return load_config(ROOT / "config" / f"{CONFIG_OF.get(example, 'demo')}.yaml")


@cache
def clean(example: str) -> tuple[Outcome, FaultLog]:
    """The example's clean run (its writes counted for the sweep). Made in the parent before the pool
    starts, so the forked workers inherit it rather than replaying it again."""
    return run(config_of(example), lines_of(example))


def faulted(job: tuple[str, FaultPlan]) -> dict[str, Any]:
    """One faulted run of an example, compared with its clean run."""
    example, plan = job
    outcome, log = run(config_of(example), lines_of(example), plan)
    return {"example": example, "plan": plan.__dict__, "crashes": len(log.crashes),
            "throttled_calls": log.throttled_calls, "dead_letters": len(log.dead_letters)} | divergence(
        clean(example)[0], outcome, log)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--examples", nargs="*", default=list(EXAMPLES))
    parser.add_argument("--sweep", action=argparse.BooleanOptionalAction, default=True,
                        help="also crash after each write of each example in turn")
    parser.add_argument("--out", type=Path, default=ROOT / ".bench" / "faults.json")
    args = parser.parse_args()
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "CRITICAL")  # handler failures are the point here
    started = time.perf_counter()
    jobs = [(example, FaultPlan(seed=seed, throttle_rate=THROTTLE_RATE, crash_rate=CRASH_RATE))
            for example in args.examples for seed in range(args.seeds)]
    if args.sweep:
        jobs += [(example, FaultPlan(crash_at_write=index)) for example in args.examples
                 for index in range(clean(example)[1].writes)]
    for example in args.examples:
        clean(example)
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        results = list(pool.map(faulted, jobs, chunksize=4))
    totals = {count: sum(r[count] for r in results) for count in COUNTS}
    summary = {"runs": len(results), **totals,
               "resent_in_publish_window": sum(r["resent_in_publish_window"] for r in results),
               "crashes": sum(r["crashes"] for r in results),
               "throttled_calls": sum(r["throttled_calls"] for r in results),
               "dead_letters": sum(r["dead_letters"] for r in results),
               "seconds": round(time.perf_counter() - started, 1),
               "failures": [r for r in results if any(r[count] for count in COUNTS)]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    for key, value in summary.items():
        if key != "failures":
            print(f"{key:<26} {value}")
    for failure in summary["failures"][:10]:
        print(json.dumps(failure)[:600])
    return 1 if any(totals.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
