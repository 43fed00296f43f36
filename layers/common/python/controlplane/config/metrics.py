"""An alarm's metric: one CloudWatch metric, or a metric-math formula over up to ten of them.

The formula is checked at synth as CloudWatch would check it at deploy (and some things CloudWatch
accepts but that would leave the alarm blind): every name in it is an input or a function alarms may
use, every input is read, parentheses balance."""

from __future__ import annotations

import re
from typing import Any

from controlplane.config.model import FORMULA_ID, MetricInput
from controlplane.config.readers import _int, _mapping, _no_unknown, _str
from controlplane.errors import ConfigError

_STATISTIC = re.compile(r"^(Average|Sum|Minimum|Maximum|SampleCount|p\d{1,2}(\.\d+)?)$")
_INPUT_ID = re.compile(r"^[a-z][a-zA-Z0-9_]{0,254}$")  # CloudWatch: starts with a lower-case letter
# CloudWatch: "alarms on metric math expressions can include up to 10 metrics".
MAX_INPUTS = 10
# Metric math functions an alarm's formula may call (CloudWatch User Guide, *Using metric math*).
# SEARCH, INSIGHT_RULE_METRIC, ANOMALY_DETECTION_BAND and the like are left out: an alarm over them is
# a different kind of alarm, not a formula over named metrics.
FUNCTIONS = frozenset({
    "ABS", "AVG", "CEIL", "DATAPOINT_COUNT", "DIFF", "DIFF_TIME", "FILL", "FIRST", "FLOOR", "IF", "LAST", "LOG",
    "LOG10", "MAX", "METRIC_COUNT", "METRICS", "MIN", "PERIOD", "RATE", "REMOVE_EMPTY", "RUNNING_SUM", "SORT",
    "STDDEV", "SUM", "TIME_SERIES", "AND", "OR", "NOT", "REPEAT", "LINEAR",
})
_TOKEN = re.compile(r"\s*(?:(?P<number>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                    r"|(?P<string>\"[^\"]*\")|(?P<operator><=|>=|==|!=|[-+*/^(),<>]))")
METRIC_KEYS = {"namespace", "name", "statistic", "period_seconds", "dimensions"}
EXPRESSION_KEYS = {"formula", "label", "period_seconds", "metrics"}


def metric_input(raw: dict[str, Any], where: str, metric_id: str = "m1") -> MetricInput:
    statistic = _str(raw, "statistic", where)
    if not _STATISTIC.match(statistic):
        raise ConfigError(f"{where}.statistic: {statistic!r} is not a CloudWatch statistic")
    name = _str(raw, "name", where)
    namespace = _str(raw, "namespace", where)
    dimensions = _mapping(raw.get("dimensions") or {}, f"{where}.dimensions")
    if namespace.startswith("AWS/") and not dimensions:
        # AWS publishes its metrics per resource: without dimensions the alarm watches a series that
        # does not exist, and sits in INSUFFICIENT_DATA for good.
        raise ConfigError(f"{where}.dimensions: {namespace} {name} needs the dimensions naming the resource "
                          "(e.g. DistributionId, LoadBalancer, DBInstanceIdentifier)")
    if any(not str(value) for value in dimensions.values()):
        raise ConfigError(f"{where}.dimensions: a dimension's value may not be empty")
    return MetricInput(metric_id, namespace, name, statistic, {str(k): str(v) for k, v in dimensions.items()})


def period(raw: dict[str, Any], where: str) -> int:
    seconds = _int(raw, "period_seconds", where)
    if seconds not in (10, 20, 30) and seconds % 60:
        raise ConfigError(f"{where}.period_seconds: must be 10, 20, 30 or a multiple of 60 (got {seconds})")
    return seconds


def single_metric(raw: dict[str, Any], where: str) -> tuple[MetricInput, int]:
    _no_unknown(raw, METRIC_KEYS, where)
    return metric_input(raw, where), period(raw, where)


def expression(raw: dict[str, Any], where: str) -> tuple[str, str, tuple[MetricInput, ...], int]:
    """(formula, label, inputs, period) of `alarms.<key>.expression`."""
    _no_unknown(raw, EXPRESSION_KEYS, where)
    metrics = _mapping(raw.get("metrics"), f"{where}.metrics")
    if not 1 <= len(metrics) <= MAX_INPUTS:
        raise ConfigError(f"{where}.metrics: 1 to {MAX_INPUTS} metrics (CloudWatch's limit for an alarm), "
                          f"got {len(metrics)}")
    inputs = []
    for metric_id, spec in metrics.items():
        if not _INPUT_ID.match(str(metric_id)) or metric_id == FORMULA_ID:
            raise ConfigError(f"{where}.metrics.{metric_id}: an id starts with a lower-case letter and has only "
                              f"letters, digits and _ (and is not {FORMULA_ID!r})")
        spec = _mapping(spec, f"{where}.metrics.{metric_id}")
        _no_unknown(spec, METRIC_KEYS - {"period_seconds"}, f"{where}.metrics.{metric_id}")
        inputs.append(metric_input(spec, f"{where}.metrics.{metric_id}", str(metric_id)))
    formula = _str(raw, "formula", where)
    _check_formula(formula, {metric.id for metric in inputs}, f"{where}.formula")
    return formula, _str(raw, "label", where), tuple(inputs), period(raw, where)


def _check_formula(formula: str, ids: set[str], where: str) -> None:
    position, depth, used = 0, 0, set()
    while position < len(formula):
        match = _TOKEN.match(formula, position)
        if match is None or match.end() == position:
            raise ConfigError(f"{where}: cannot read {formula[position:].strip()[:20]!r} in {formula!r}")
        position = match.end()
        name, operator = match.group("name"), match.group("operator")
        if name is not None:
            if name in ids:
                used.add(name)
            elif name not in FUNCTIONS:
                raise ConfigError(f"{where}: {name!r} is neither one of the metrics ({', '.join(sorted(ids))}) nor a "
                                  "metric math function an alarm may use")
            elif name == "METRICS":
                used |= ids
        depth += {"(": 1, ")": -1}.get(operator or "", 0)
        if depth < 0:
            raise ConfigError(f"{where}: a ')' closes nothing in {formula!r}")
    if depth:
        raise ConfigError(f"{where}: unbalanced parentheses in {formula!r}")
    if unused := ids - used:
        raise ConfigError(f"{where}: the formula does not read {', '.join(sorted(unused))}: an input it does not "
                          "read is a metric the alarm pays for and ignores")
