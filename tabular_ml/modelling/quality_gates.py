"""The quality gates a model must pass: floors, ceilings and a margin over a trivial baseline.

ZenML-free. Every failure is one line, e.g. ``roc_auc 0.812 is below the minimum 0.840`` or
``f1_macro 0.410 does not beat the baseline 0.120 by 0.05``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from tabular_ml.configuration.schema import QualityGates
from tabular_ml.tasks.metric_names import HIGHER_IS_BETTER, describe_unknown_metric, metric_names

__all__ = ["QualityGateError", "check_gates", "enforce_gates", "unknown_gate_metrics"]

# Float noise allowance when comparing an improvement with its margin (0.17 - 0.12 < 0.05 in floats).
_TOLERANCE = 1e-12


class QualityGateError(RuntimeError):
    """A model failed one or more quality gates; ``failures`` lists them."""

    def __init__(self, failures: Sequence[str]):
        self.failures = list(failures)
        super().__init__("; ".join(self.failures))


def _format_pair(value: float, bound: float) -> tuple[str, str]:
    """Both numbers with 3 decimals, or more if needed to tell them apart."""
    for decimals in range(3, 13):
        left, right = f"{value:.{decimals}f}", f"{bound:.{decimals}f}"
        if left != right:
            return left, right
    return f"{value:.3f}", f"{bound:.3f}"


def _gated_names(gates: QualityGates) -> dict[str, None]:
    return dict.fromkeys((*gates.min, *gates.max, *gates.beat_baseline))


def unknown_gate_metrics(gates: QualityGates, task: str | None = None) -> list[str]:
    """Names in ``gates`` that are not metrics of ``task`` (of any task when None), sorted.

    For checking a config before training; :func:`describe_unknown_metric` words the error.
    """
    known = set(metric_names(task))
    return sorted(name for name in _gated_names(gates) if name not in known)


def _missing(name: str, task: str | None, kind: str, what: str) -> str:
    """Why the ``kind`` gate on ``name`` (``what`` it asks) cannot be checked: no such metric."""
    if name in metric_names(task):
        return f"{name} was not computed for this evaluation, so {what} cannot be checked"
    return describe_unknown_metric(name, task, where=f" in the {kind} gates")


def _bound_failures(metrics: Mapping[str, float], gates: QualityGates, task: str | None) -> list[str]:
    failures = []
    for kind, bounds in (("minimum", gates.min), ("maximum", gates.max)):
        for name, bound in bounds.items():
            if name not in metrics:
                failures.append(_missing(name, task, kind, f"its {kind} {bound:.3f}"))
                continue
            value = float(metrics[name])
            if math.isnan(value):
                failures.append(f"{name} is not a number, so its {kind} {bound:.3f} cannot be met")
                continue
            shown, limit = _format_pair(value, bound)
            if kind == "minimum" and value < bound:
                failures.append(f"{name} {shown} is below the minimum {limit}")
            elif kind == "maximum" and value > bound:
                failures.append(f"{name} {shown} is above the maximum {limit}")
    return failures


def _baseline_failures(
    metrics: Mapping[str, float],
    gates: QualityGates,
    baseline: Mapping[str, float] | None,
    task: str | None,
) -> list[str]:
    failures = []
    for name, margin in gates.beat_baseline.items():
        what = f"beating the baseline by {margin:g}"
        if name not in metrics:
            failures.append(_missing(name, task, "beat_baseline", what))
            continue
        if baseline is None or name not in baseline:
            source = "no baseline metrics were given" if baseline is None else "the baseline has no " + name
            failures.append(f"{source}, so {name} {what} cannot be checked")
            continue
        value, reference = float(metrics[name]), float(baseline[name])
        if math.isnan(value) or math.isnan(reference):
            failures.append(f"{name} is not a number for the model or the baseline, so {what} cannot be met")
            continue
        improvement = value - reference if HIGHER_IS_BETTER.get(name, True) else reference - value
        if improvement <= 0 or improvement < margin - _TOLERANCE:
            shown, base = _format_pair(value, reference)
            by = f" by {margin:g}" if margin else ""
            lower = "" if HIGHER_IS_BETTER.get(name, True) else " (lower is better)"
            failures.append(f"{name} {shown} does not beat the baseline {base}{by}{lower}")
    return failures


def check_gates(
    metrics: Mapping[str, float],
    gates: QualityGates,
    baseline: Mapping[str, float] | None = None,
    *,
    task: str | None = None,
) -> list[str]:
    """One message per failed gate; an empty list when the model passes them all.

    A ``min`` gate fails when the metric is strictly below it, a ``max`` gate when strictly
    above. A ``beat_baseline`` gate fails unless the model is strictly better than
    ``baseline`` (the trivial model's metrics on the same holdout) by at least the margin, in
    the metric's better direction; without ``baseline``, or without the metric in it, it
    fails saying so. A gate naming a metric that is not in ``metrics`` fails too: "not
    computed" for a metric of ``task`` that was left out (e.g. roc_auc on a one-class
    holdout), otherwise why the name is wrong (another task's metric, or no metric at all).
    ``task`` None accepts the metric names of every task.
    """
    return _bound_failures(metrics, gates, task) + _baseline_failures(metrics, gates, baseline, task)


def enforce_gates(
    metrics: Mapping[str, float],
    gates: QualityGates,
    baseline: Mapping[str, float] | None = None,
    *,
    task: str | None = None,
) -> None:
    """Raise ``QualityGateError`` listing every failed gate (joined by "; ")."""
    failures = check_gates(metrics, gates, baseline, task=task)
    if failures:
        raise QualityGateError(failures)
