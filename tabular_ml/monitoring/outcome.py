"""What a monitoring run concluded: the verdict in lines, and what its retrain step did."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

if TYPE_CHECKING:  # the CLI imports this module before anything heavy
    from tabular_ml.monitoring.verdict import MonitoringVerdict


class RetrainOutcome(BaseModel):
    """The retrain step's output: a retrained version and its promotion decision, or why there is none."""

    retrained: bool
    version: int | None = None
    decision: str | None = None  # promoted, rejected, ... (tabular_ml.model_management.decisions)
    reason: str

    def summary(self) -> str:
        """One line for the CLI and the step's log."""
        if not self.retrained:
            return self.reason
        return f"Retrained version {self.version}: {self.decision} ({self.reason})"


def not_retrained(alert: bool, on_drift: str) -> RetrainOutcome | None:
    """The outcome when nothing is to be retrained (no alert, or ``on_drift: alert``); None otherwise."""
    if not alert:
        return RetrainOutcome(retrained=False, reason="no alert: nothing retrained")
    if on_drift != "retrain":
        return RetrainOutcome(retrained=False, reason=f"on_drift: {on_drift}: nothing retrained")
    return None


def retrained(version: int, decision: dict) -> RetrainOutcome:
    """The outcome for the retrained ``version`` and the decision recorded on it (if any)."""
    return RetrainOutcome(
        retrained=True,
        version=version,
        decision=decision.get("status", "undecided"),
        reason=decision.get("reason", "no decision recorded"),
    )


def monitoring_lines(verdict: MonitoringVerdict, outcome: RetrainOutcome) -> list[str]:
    """What the CLI prints after a monitoring run: the verdict's headline, its reasons, what was retrained."""
    headline = (
        f"Monitoring of version {verdict.model_version} on {verdict.current_rows} rows: "
        + ("ALERT" if verdict.alert else "no threshold crossed")
        + (f" ({verdict.note})" if verdict.note else "")
    )
    lines = [headline, *(f"  - {reason}" for reason in verdict.reasons)]
    if outcome.retrained:
        lines.append(
            "on_drift: retrain -> training, then deployment (promotion only if significantly better)"
        )
        lines.append(outcome.summary())
    return lines
