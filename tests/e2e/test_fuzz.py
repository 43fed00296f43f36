"""Property-based fuzzing of the intake: every input is processed or rejected with a reason, and
nothing raises out of the handler."""

import copy
import json
import os
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factories import eventbridge_alarm, sns_alarm

# 5,000 in the full tier (each shape some 500 times; 10,000 took 88 s of its ten minutes), 500 in the
# edit loop (make test-fast).
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5000"))
BASE = datetime(2026, 11, 26, tzinfo=timezone.utc)

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30))
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=12), inner, max_size=4), max_leaves=12)
states = st.sampled_from(["ALARM", "OK", "INSUFFICIENT_DATA"])


@st.composite
def valid_events(draw):
    build = draw(st.sampled_from([eventbridge_alarm, sns_alarm]))
    name = draw(st.sampled_from(["financeanalyst-pro-demo-error-rate", "other-team-alarm", "checkout-outage"]))
    at = BASE + timedelta(seconds=draw(st.integers(0, 86_400)))
    return build(name, draw(states), at, shape=draw(st.sampled_from(["single", "math", "composite"])),
                 value=draw(st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False))))


def _paths(node, prefix=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*prefix, index)
            yield from _paths(value, (*prefix, index))


@st.composite
def mutated_events(draw):
    """A real event with one field replaced by arbitrary JSON, or deleted; SNS messages are
    mutated inside their JSON string too, where most of their fields live."""
    event = copy.deepcopy(draw(valid_events()))
    target = event
    if "Records" in event and draw(st.booleans()):
        message = json.loads(event["Records"][0]["Sns"]["Message"])
        target = message
    paths = list(_paths(target))
    path = draw(st.sampled_from(paths))
    parent = target
    for step in path[:-1]:
        parent = parent[step]
    if draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(json_value)
    if target is not event:
        event["Records"][0]["Sns"]["Message"] = json.dumps(target)
    return event


inputs = st.one_of(valid_events(), mutated_events(), mutated_events(), json_value)


def test_every_input_is_processed_or_rejected_with_a_reason(harness) -> None:
    seen = {"rejected": 0, "handled": 0}

    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
    @given(event=inputs)
    def check(event) -> None:
        if sum(seen.values()) % 200 == 0:
            harness.empty_queues()  # keep moto's queues short; their contents are not under test here
        outcomes = harness.triage(event, at=BASE + timedelta(days=1), relay=False)  # triage alone is under test
        assert outcomes, "every delivery yields at least one outcome"
        for outcome in outcomes:
            if outcome["result"] in ("rejected", "ignored"):  # ignored: an aws.* event that is no alarm change
                assert outcome["reason"]
                seen["rejected"] += 1
            else:
                assert outcome["result"] in {"opened", "reopened", "updated", "resolved", "joined", "recorded", "blind_spot",
                                             "duplicate", "superseded"}
                seen["handled"] += 1

    check()
    print(f"fuzz: {seen['handled']} processed, {seen['rejected']} rejected")
    # Both sides were really exercised, whatever the example count.
    assert min(seen.values()) > FUZZ_EXAMPLES // 10
