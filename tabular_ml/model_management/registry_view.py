"""The two model registries side by side: ZenML model versions and the MLflow aliases on them.

ZenML-free: ``run.py models`` gathers the versions and the MLflow registry's aliases and
prints what these functions build. MLflow versions are tied to ZenML versions by their
``zenml_version`` tag (set by :func:`adapters.mlflow_tracking.set_mlflow_alias`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

NONE = "-"
PRODUCTION = "production"


@dataclass(frozen=True)
class ZenmlVersion:
    """What the view needs of a ZenML model version."""

    number: int
    stage: str | None = None
    created: datetime | None = None
    run_metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MlflowRegistry:
    """The MLflow registered model: its aliases and the ZenML version of each MLflow version."""

    aliases: Mapping[str, str]  # alias -> MLflow version
    zenml_versions: Mapping[str, str | None]  # MLflow version -> its zenml_version tag

    def zenml_version_of(self, alias: str) -> str | None:
        """The ZenML version the alias is on (None: no such alias, or an untagged MLflow version)."""
        mlflow_version = self.aliases.get(alias)
        return None if mlflow_version is None else self.zenml_versions.get(str(mlflow_version))

    def aliases_by_zenml_version(self) -> dict[str, list[str]]:
        by_version: dict[str, list[str]] = {}
        for alias, mlflow_version in sorted(self.aliases.items()):
            zenml_version = self.zenml_versions.get(str(mlflow_version))
            if zenml_version is not None:
                by_version.setdefault(str(zenml_version), []).append(alias)
        return by_version


COLUMNS = ("version", "ZenML stage", "created (UTC)", "{metric}", "decision", "MLflow aliases")


def build_rows(
    versions: Sequence[ZenmlVersion], mlflow: MlflowRegistry | None, metric: str = "roc_auc"
) -> list[tuple[str, ...]]:
    """One row of text cells per ZenML version, oldest first; '-' where there is nothing."""
    aliases = mlflow.aliases_by_zenml_version() if mlflow is not None else {}
    rows = []
    for version in sorted(versions, key=lambda v: v.number):
        metrics = version.run_metadata.get("metrics")
        value = metrics.get(metric) if isinstance(metrics, Mapping) else None
        decision = version.run_metadata.get("decision")
        status = decision.get("status") if isinstance(decision, Mapping) else None
        rows.append(
            (
                str(version.number),
                version.stage or NONE,
                version.created.strftime("%Y-%m-%d %H:%M:%S") if version.created else NONE,
                f"{value:.4f}" if isinstance(value, (int, float)) else NONE,
                str(status) if status else NONE,
                ", ".join(aliases.get(str(version.number), [])) or NONE,
            )
        )
    return rows


def render_table(rows: Sequence[Sequence[str]], metric: str = "roc_auc") -> str:
    """The rows under a header, in left-aligned columns two spaces apart."""
    header = tuple(column.format(metric=metric) for column in COLUMNS)
    widths = [max(len(cells[i]) for cells in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()
        for cells in [header, *rows]
    ]
    return "\n".join(lines)


def disagreement(versions: Sequence[ZenmlVersion], mlflow: MlflowRegistry | None) -> str | None:
    """The warning when ZenML's production version and MLflow's ``production`` alias differ.

    None when they agree, when neither has a production version, or when there is no MLflow
    registry to compare with.
    """
    if mlflow is None:
        return None
    in_production = [v.number for v in versions if (v.stage or "").lower() == PRODUCTION]
    zenml = str(in_production[0]) if in_production else None
    alias = mlflow.aliases.get(PRODUCTION)
    tagged = mlflow.zenml_version_of(PRODUCTION)
    if (alias is None and zenml is None) or (tagged is not None and tagged == zenml):
        return None
    zenml_side = f"ZenML production is version {zenml}" if zenml else "ZenML has no production version"
    if alias is None:
        mlflow_side = f"MLflow has no alias {PRODUCTION}"
    elif tagged is None:
        mlflow_side = (
            f"MLflow alias {PRODUCTION} is on MLflow version {alias}, which has no zenml_version tag"
        )
    else:
        mlflow_side = f"MLflow alias {PRODUCTION} is on version {tagged}"
    return f"registries disagree: {zenml_side}, {mlflow_side}"
