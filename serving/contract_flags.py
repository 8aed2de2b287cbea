"""Values that break the data contract, when the server is configured to flag them.

With ``SERVING_CONTRACT_VIOLATIONS=flag`` a request holding such values is answered (200):
its response lists them in ``meta.tags.contract_violations`` and the server counts them in
``contract_violation_total`` (tagged ``column`` and ``rule``). A row whose values make the
model's output non-finite (e.g. ``1.7e308`` in a binary column) still cannot be answered:
that is a 400 naming the row and the values at fault.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from serving.request_schema import ParsedRequest, RequestError, Violation

__all__ = [
    "CONTRACT_VIOLATION_METRIC",
    "VIOLATIONS_TAG",
    "unscorable",
    "unscorable_check",
    "violation_metrics",
    "violation_tags",
]

CONTRACT_VIOLATION_METRIC = "contract_violation_total"
VIOLATIONS_TAG = "contract_violations"
_LISTED = 100  # violations listed in one response; the metric counts them all


def violation_tags(violations: Sequence[Violation]) -> list[dict[str, Any]]:
    """The response's list of flagged values (the first 100)."""
    return [
        {"row": v.row, "column": v.column, "rule": v.rule, "value": v.value} for v in violations[:_LISTED]
    ]


def violation_metrics(violations: Sequence[Violation], version: str) -> list[dict[str, Any]]:
    """``contract_violation_total`` increments per column and rule (none when nothing is flagged)."""
    counts = Counter((v.column, v.rule) for v in violations)
    return [
        {
            "type": "COUNTER",
            "key": CONTRACT_VIOLATION_METRIC,
            "value": count,
            "tags": {"column": column, "rule": rule, "served_model_version": version},
        }
        for (column, rule), count in counts.items()
    ]


def unscorable_check(scores: np.ndarray, parsed: ParsedRequest) -> np.ndarray:
    """``scores`` (one per row, or a row of class probabilities each) when all are finite; else a
    :func:`unscorable` error for the first bad row."""
    finite = np.isfinite(scores)
    if finite.ndim == 2:
        finite = finite.all(axis=1)
    if finite.all():
        return scores
    row = int(np.flatnonzero(~finite)[0])
    raise unscorable(parsed, "the model's output is not a number", row)


def unscorable(parsed: ParsedRequest, why: str, row: int | None = None) -> RequestError:
    """The 400 for values the model cannot score, naming the flagged values (of ``row``, if known)."""
    flagged = [v.describe() for v in parsed.violations if row is None or v.row == row][:3]
    where = f"row {row}" if row is not None else "the request"
    detail = f"; flagged: {'; '.join(flagged)}" if flagged else ""
    return RequestError("request", f"{where} cannot be scored ({why}){detail}")
