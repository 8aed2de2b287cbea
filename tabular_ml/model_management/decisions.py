"""Decisions about model versions: which one is the challenger, and the record of each decision.

A model version is decided once - promoted, rejected by promotion, rolled back from, or
restored by a rollback - and never silently reconsidered: the challenger is the newest
version that finished training, if it has no decision yet (older undecided versions are
superseded by it). ZenML-free: versions are passed in as ``(number, run_metadata)`` pairs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

DECISION_KEY = "decision"
DecisionStatus = Literal["promoted", "rejected", "rolled_back", "restored"]


def is_trained(metadata: Mapping[str, Any]) -> bool:
    """Whether the version's training run finished (it recorded its holdout metrics)."""
    return "metrics" in metadata


def is_decided(metadata: Mapping[str, Any]) -> bool:
    """Whether a decision was recorded (``promotion`` is the record of versions before decisions)."""
    return DECISION_KEY in metadata or "promotion" in metadata


def choose_challenger(versions: Iterable[tuple[int, Mapping[str, Any]]]) -> int | None:
    """The newest trained version when it has no decision yet, else None.

    An undecided version older than the newest trained one is superseded, never a challenger:
    once a newer version was decided, promoting the older one later (say after a rollback)
    would put a model trained before the last decision into production.
    """
    trained = [(number, metadata) for number, metadata in versions if is_trained(metadata)]
    if not trained:
        return None
    number, metadata = max(trained, key=lambda version: version[0])
    return None if is_decided(metadata) else number


def decision_record(status: DecisionStatus, reason: str, **details: Any) -> dict[str, Any]:
    """The metadata value stored under ``decision`` on a model version."""
    return {
        "status": status,
        "reason": reason,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        **details,
    }


def previous_production(
    current_number: int,
    current_metadata: Mapping[str, Any],
    versions: Iterable[tuple[int, Mapping[str, Any]]],
) -> int | None:
    """The version a plain rollback restores: the one production before ``current``.

    Recorded at promotion (``previous_production``); otherwise the newest earlier version
    that was promoted or restored once and was not rolled back from since.
    """
    recorded = current_metadata.get("previous_production")
    if recorded is not None:
        return int(recorded)
    served_once = [
        number
        for number, metadata in versions
        if number < current_number
        and metadata.get(DECISION_KEY, {}).get("status") in ("promoted", "restored")
        or (number < current_number and metadata.get("promotion", {}).get("promote"))
    ]
    return max(served_once, default=None)
