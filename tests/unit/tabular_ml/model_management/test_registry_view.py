"""ZenML model versions and MLflow aliases side by side, on plain inputs."""

from __future__ import annotations

from datetime import datetime

from tabular_ml.model_management.registry_view import (
    MlflowRegistry,
    ZenmlVersion,
    build_rows,
    disagreement,
    render_table,
)

CREATED = datetime(2026, 1, 2, 3, 4, 5)


def version(number: int, stage: str | None = None, roc_auc: float | None = 0.84, status: str | None = None):
    metadata: dict = {}
    if roc_auc is not None:
        metadata["metrics"] = {"roc_auc": roc_auc, "f1": 0.6}
    if status is not None:
        metadata["decision"] = {"status": status, "reason": "..."}
    return ZenmlVersion(number, stage, CREATED, metadata)


VERSIONS = [
    version(3, "production", 0.85111, "promoted"),
    version(1, "archived", 0.84, "promoted"),
    version(2, None, 0.5, "rejected"),
    version(4, None, roc_auc=None),  # its training never finished
]
# MLflow versions 1 and 2 registered for ZenML versions 1 and 3
AGREEING = MlflowRegistry(aliases={"production": "2", "previous": "1"}, zenml_versions={"1": "1", "2": "3"})


def test_rows_oldest_first_with_metric_decision_and_aliases():
    assert build_rows(VERSIONS, AGREEING) == [
        ("1", "archived", "2026-01-02 03:04:05", "0.8400", "promoted", "previous"),
        ("2", "-", "2026-01-02 03:04:05", "0.5000", "rejected", "-"),
        ("3", "production", "2026-01-02 03:04:05", "0.8511", "promoted", "production"),
        ("4", "-", "2026-01-02 03:04:05", "-", "-", "-"),
    ]


def test_rows_without_an_mlflow_registry_show_dashes():
    rows = build_rows([version(1, "production")], None)
    assert rows == [("1", "production", "2026-01-02 03:04:05", "0.8400", "-", "-")]


def test_rows_of_another_metric_and_several_aliases_on_one_version():
    registry = MlflowRegistry(aliases={"production": "5", "champion": "5"}, zenml_versions={"5": "1"})
    rows = build_rows([version(1, "production")], registry, metric="f1")
    assert rows == [("1", "production", "2026-01-02 03:04:05", "0.6000", "-", "champion, production")]
    assert build_rows([version(1)], registry, metric="nope")[0][3] == "-"


def test_untagged_mlflow_versions_show_on_no_row():
    registry = MlflowRegistry(aliases={"production": "9"}, zenml_versions={"9": None})
    assert build_rows([version(1)], registry)[0][5] == "-"


def test_missing_created_time_and_odd_metadata():
    odd = ZenmlVersion(7, None, None, {"metrics": "not a mapping", "decision": ["x"]})
    assert build_rows([odd], None) == [("7", "-", "-", "-", "-", "-")]


def test_render_table_aligns_columns():
    table = render_table(build_rows(VERSIONS[:2], AGREEING))
    assert table.splitlines() == [
        "version  ZenML stage  created (UTC)        roc_auc  decision  MLflow aliases",
        "1        archived     2026-01-02 03:04:05  0.8400   promoted  previous",
        "3        production   2026-01-02 03:04:05  0.8511   promoted  production",
    ]
    assert render_table([], metric="f1").splitlines() == [
        "version  ZenML stage  created (UTC)  f1  decision  MLflow aliases"
    ]


def test_registries_agree():
    assert disagreement(VERSIONS, AGREEING) is None
    assert disagreement(VERSIONS, None) is None  # no MLflow registry: nothing to compare
    nothing = MlflowRegistry(aliases={}, zenml_versions={})
    assert disagreement([version(1), version(2, "archived")], nothing) is None  # no production anywhere
    assert disagreement(VERSIONS, MlflowRegistry({"production": 2}, {"2": "3"})) is None  # int version


def test_registries_disagree_on_the_production_version():
    registry = MlflowRegistry(aliases={"production": "1"}, zenml_versions={"1": "1", "2": "3"})
    assert disagreement(VERSIONS, registry) == (
        "registries disagree: ZenML production is version 3, MLflow alias production is on version 1"
    )


def test_registries_disagree_when_one_side_has_no_production():
    registry = MlflowRegistry(aliases={"previous": "1"}, zenml_versions={"1": "1"})
    assert disagreement(VERSIONS, registry) == (
        "registries disagree: ZenML production is version 3, MLflow has no alias production"
    )
    no_production = [version(1, "archived"), version(2)]
    assert disagreement(no_production, AGREEING) == (
        "registries disagree: ZenML has no production version, MLflow alias production is on version 3"
    )


def test_registries_disagree_when_the_alias_is_on_an_untagged_version():
    registry = MlflowRegistry(aliases={"production": "7"}, zenml_versions={"7": None})
    assert disagreement(VERSIONS, registry) == (
        "registries disagree: ZenML production is version 3, "
        "MLflow alias production is on MLflow version 7, which has no zenml_version tag"
    )
