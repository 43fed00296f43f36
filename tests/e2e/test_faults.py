"""The slice of `make faults` CI runs: examples replayed with seeded throttling and crashes after
writes (and Lambda's retries), held to the five invariants against their clean runs."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.config import ControlPlaneConfig
from controlplane.ledger import Outbox
from faults import COUNTS, FaultPlan, divergence, run
from paths import ROOT

SEEDS = range(3)


def lines(example: str) -> list[str]:
    return (ROOT / "examples" / f"{example}.jsonl").read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def config() -> ControlPlaneConfig:
    from controlplane.config import load_config

    return load_config(ROOT / "config" / "demo.yaml")


def faulted_runs(config: ControlPlaneConfig, example: str, plans: list[FaultPlan]) -> list[dict[str, Any]]:
    clean, _ = run(config, lines(example))
    return [divergence(clean, *run(config, lines(example), plan)) for plan in plans]


@pytest.mark.parametrize("example", ["traffic-spike", "bad-deploy", "maintenance-window"])
def test_seeded_faults_keep_every_invariant(config, example: str) -> None:
    plans = [FaultPlan(seed=seed, throttle_rate=0.2, crash_rate=0.05) for seed in SEEDS]
    results = faulted_runs(config, example, plans)
    assert [{count: r[count] for count in COUNTS if r[count]} for r in results] == [{}] * len(plans), \
        [r["details"] for r in results]


def test_a_crash_after_every_write_of_a_rollback_keeps_every_invariant(config) -> None:
    """The sweep, over the bad deploy: Lambda dies after each write in turn."""
    writes = run(config, lines("bad-deploy"))[1].writes
    results = faulted_runs(config, "bad-deploy", [FaultPlan(crash_at_write=index) for index in range(writes)])
    failing = {index: r["details"] for index, r in enumerate(results) if any(r[count] for count in COUNTS)}
    assert failing == {}
    assert writes > 20  # the sweep covered the whole day: the deployment, triage, the rollback, the relay


def test_the_tier_sees_a_relay_that_forgets_what_it_sent(config, monkeypatch) -> None:
    """The tier can fail: with the relay's sent marks ignored, a retry after a crash pages again."""
    monkeypatch.setattr(Outbox, "marks", lambda self, outbox: set())
    real_mark = Outbox.mark
    monkeypatch.setattr(Outbox, "mark", lambda self, *args, **kwargs: (real_mark(self, *args, **kwargs), set())[1])
    results = faulted_runs(config, "incident-day", [FaultPlan(seed=seed, crash_rate=0.1) for seed in SEEDS])
    assert sum(r["duplicate_pages"] for r in results) > 0
