"""Draft a complete training configuration from a table (``python run.py draft-config``).

The data is cleaned the way training cleans it, each column is profiled
(:mod:`tabular_ml.drafting.column_profile`), the target is resolved (:func:`resolve_target`) and a
search suited to the task and the data size is chosen (:mod:`tabular_ml.drafting.search_draft`).
The result is YAML text with ``REVIEW:`` comments where a human should decide.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tabular_ml.configuration.schema import CleaningConfig, DataContract, SourceConfig, StrictModel
from tabular_ml.configuration.suggest import did_you_mean
from tabular_ml.data.cleaning import CleaningSummary, clean_frame
from tabular_ml.drafting.column_profile import ColumnDraft, contract_entry, infer_kind
from tabular_ml.drafting.commented_yaml import Comments, flow, render
from tabular_ml.drafting.search_draft import (
    BASELINE_MARGIN,
    BASELINE_METRIC,
    draft_evaluation,
    draft_search,
    size_of,
)
from tabular_ml.tasks.target import TargetSpec, Task, label_text, resolve_target

#: The contract's default limit on a column's missing share (a column may say otherwise).
DEFAULT_MAX_MISSING_SHARE = 0.05
#: The test share of the split and its seed, as in configs/training.yaml.
TEST_SIZE, RANDOM_STATE = 0.2, 42

P = ("parameters",)
COLUMNS = (*P, "contract", "columns")


class SourceSection(StrictModel):
    """A config's ``source:`` alone (``draft-config --source-config``)."""

    source: SourceConfig


class DraftError(ValueError):
    """The data cannot be drafted (no such target, no feature column left); one line."""


@dataclass
class Draft:
    """A drafted training configuration: the YAML text, the document it loads to, and a summary."""

    text: str
    document: dict[str, Any]
    target: TargetSpec
    columns: list[ColumnDraft]
    rows: int
    summary: list[str] = field(default_factory=list)

    @property
    def reviews(self) -> list[ColumnDraft]:
        return [column for column in self.columns if column.review]


def _native(value: Any) -> Any:
    """numpy scalars as Python ones (YAML writes only those)."""
    return value.item() if isinstance(value, np.generic) else value


def _typed_classes(labels: pd.Series, spec: TargetSpec) -> list[Any]:
    """The classes as the data holds them (``0``, ``True``, ``"Yes"``), in the spec's order."""
    by_text: dict[str, Any] = {}
    for value in pd.unique(labels.dropna()):
        by_text.setdefault(label_text(value), _native(value))
    return [by_text.get(text, text) for text in spec.classes]


def _provisional_contract(frame: pd.DataFrame, target: str) -> DataContract:
    """Every column as categorical: cleaning then only strips text and blanks, coercing nothing."""
    columns = {str(name): {"kind": "categorical"} for name in frame.columns if name != target}
    if not columns:
        raise DraftError(f"the data has no column besides the target {target!r}")
    return DataContract(target=target, columns=columns)


def profile_table(
    frame: pd.DataFrame, target: str
) -> tuple[list[ColumnDraft], pd.DataFrame, CleaningSummary]:
    """Every non-target column's draft, and the data cleaned with the drafted kinds."""
    cleaning = CleaningConfig()
    text_fixed, _ = clean_frame(frame, cleaning, _provisional_contract(frame, target))
    drafts = [infer_kind(text_fixed[name], str(name)) for name in text_fixed.columns if name != target]
    features = {d.name: {"kind": d.kind} for d in drafts if d.role == "feature"}
    if not features:
        raise DraftError(
            "no column can be a feature: " + "; ".join(f"{d.name}: {d.notes[0]}" for d in drafts if d.notes)
        )
    cleaned, summary = clean_frame(frame, cleaning, DataContract(target=target, columns=features))
    return drafts, cleaned, summary


def _model_section(name: str, target: str, task: Task, described_source: str) -> dict[str, Any]:
    kind = "regressor" if task == "regression" else "classifier"
    return {
        "name": f"{name}_{kind}",
        "description": f"Predicts {target!r} ({task}) from {described_source}; drafted by draft-config.",
        "tags": [name, "tabular", task],
    }


def _contract_section(
    drafts: list[ColumnDraft],
    cleaned: pd.DataFrame,
    summary: CleaningSummary,
    spec: TargetSpec,
    comments: Comments,
) -> dict[str, Any]:
    contract: dict[str, Any] = {"target": spec.column}
    if spec.is_classification:
        classes = _typed_classes(cleaned[spec.column], spec)
        contract["classes"] = classes
        if spec.task == "binary":
            contract["positive_class"] = classes[1]
            comments.trailing[(*P, "contract", "positive_class")] = (
                "REVIEW: the class whose probability the model reports"
            )
    contract["duplicates"] = "keep"
    contract["max_missing_share"] = DEFAULT_MAX_MISSING_SHARE
    comments.trailing[(*P, "contract", "max_missing_share")] = (
        "per column; a column missing values when drafted has its own limit"
    )
    contract["min_rows"] = max(10, min(1000, len(cleaned) // 2))
    comments.trailing[(*P, "contract", "min_rows")] = "half the rows seen when drafted, at most 1000"
    columns: dict[str, Any] = {}
    for column in drafts:
        path = (*COLUMNS, column.name)
        if column.role != "feature":
            prefix = "REVIEW: " if column.review else ""
            comments.after[COLUMNS].append(f"{prefix}{flow(column.name)}: {'; '.join(column.notes)}")
            continue
        lost = summary.coerced_to_missing.get(column.name, 0)
        columns[column.name] = contract_entry(column, cleaned[column.name], lost)
        if column.notes:
            comments.trailing[path] = ("REVIEW: " if column.review else "") + "; ".join(column.notes)
    contract["columns"] = columns
    missing_target = int(cleaned[spec.column].isna().sum())
    if missing_target:
        comments.above[(*P, "contract", "target")].append(
            f"REVIEW: {missing_target} row(s) have no target value; remove them at the source"
        )
    return contract


def _split_section(drafts: list[ColumnDraft], spec: TargetSpec, comments: Comments) -> dict[str, Any]:
    split: dict[str, Any] = {"test_size": TEST_SIZE, "random_state": RANDOM_STATE}
    split["stratify"] = spec.is_classification
    identifiers = [column.name for column in drafts if column.role == "identifier"]
    if identifiers:
        split["id_column"] = identifiers[0]
        proposed = next(column for column in drafts if column.name == identifiers[0])
        proposed.notes[0] += "; proposed as split.id_column"
        comments.trailing[(*P, "split", "id_column")] = (
            "REVIEW: identifier-like; rows sharing it stay on one side of the split"
        )
    return split


def _task_comment(spec: TargetSpec, labels: pd.Series) -> str:
    distinct = labels.dropna().nunique()
    how = "inferred" if spec.inferred else "given with --task"
    return f"REVIEW: {how} ({distinct} distinct target values); binary | multiclass | regression"


def draft_training_config(
    frame: pd.DataFrame,
    target: str,
    source: dict[str, Any],
    name: str,
    task: Task | None = None,
    described_source: str = "the source",
) -> Draft:
    """Draft the whole training configuration for ``frame`` (as loaded from ``source``).

    Raises :class:`DraftError` (no such target, nothing to learn from) or
    :class:`tabular_ml.tasks.target.TargetError` (the target does not fit ``task``).
    """
    if target not in frame.columns:
        raise DraftError(
            f"--target {target!r} is not a column of the data{did_you_mean(target, frame.columns)}"
        )
    drafts, cleaned, summary = profile_table(frame, target)
    spec = resolve_target(cleaned[target], target, task)
    comments = Comments()
    comments.trailing[(*P, "task")] = _task_comment(spec, cleaned[target])
    split = _split_section(drafts, spec, comments)  # before the contract: it notes the id column
    parameters: dict[str, Any] = {
        "task": spec.task,
        "source": source,
        "cleaning": {"strip_whitespace": True, "empty_strings_as_missing": True, "coerce_numeric": True},
        "contract": _contract_section(drafts, cleaned, summary, spec, comments),
        "split": split,
        "preprocessing": _preprocessing_section(len(cleaned)),
        "features": [],
        "search": draft_search(spec.task, len(cleaned)),
        "evaluation": draft_evaluation(spec.task, len(cleaned)),
    }
    _comment_sections(comments, spec, len(cleaned))
    document = {
        "model": _model_section(name, target, spec.task, described_source),
        "parameters": parameters,
        "steps": {
            "train_model": {"experiment_tracker": "mlflow_tracker"},
            "evaluate_model": {"experiment_tracker": "mlflow_tracker"},
        },
    }
    header = [
        f"Training configuration drafted by `python run.py draft-config` from {described_source}",
        f"({len(frame)} rows, {frame.shape[1]} columns; target {target!r}).",
        "Ranges are the observed ones widened by 10% of their span; categories are the observed ones.",
        "Lines marked REVIEW need a human decision. Then check and train:",
        "  python run.py --config THIS_FILE --check-data",
        "  python run.py --config THIS_FILE",
    ]
    text = render(document, comments, header)
    kept = sum(column.role == "feature" for column in drafts)
    left_out = [column.name for column in drafts if column.role != "feature"]
    summary_lines = [
        spec.describe(),
        f"contract: {kept} feature column(s) of {len(drafts)}"
        + (f"; left out: {', '.join(left_out)}" if left_out else ""),
        _search_line(parameters["search"], len(cleaned)),
    ]
    return Draft(text, document, spec, drafts, len(cleaned), summary_lines)


def _preprocessing_section(rows: int) -> dict[str, Any]:
    """The ``preprocessing:`` section; a large table's trees get category codes, not one-hot
    columns, so that the refit on every row holds one input column per categorical column."""
    section = {"numeric_imputer": "median", "categorical_imputer": "constant", "scaler": "standard"}
    if size_of(rows) == "large":
        section["categorical_encoding"] = "auto"
    return section


def _search_line(search: dict[str, Any], rows: int) -> str:
    halving = ", successive halving over rows" if search["strategy"] == "halving" else ""
    return (
        f"search: {len(search['algorithms'])} algorithms, {search['cv']}-fold CV{halving}, "
        f"scoring {search['scoring']} ({size_of(rows)} data: {rows} rows)"
    )


def _comment_sections(comments: Comments, spec: TargetSpec, rows: int) -> None:
    sections = (
        "source",
        "cleaning",
        "contract",
        "split",
        "preprocessing",
        "features",
        "search",
        "evaluation",
    )
    comments.gap_before.update((*P, section) for section in sections)
    comments.gap_before.update({("parameters",), ("steps",)})
    comments.above[(*P, "features")].append(
        "derived features (ratio, difference, log, bin, count): see configs/training.yaml"
    )
    if size_of(rows) == "large":
        comments.trailing[(*P, "preprocessing", "categorical_encoding")] = (
            "trees get category codes, other models one-hot columns"
        )
    comments.above[(*P, "search")] += [
        f"grids for {size_of(rows)} data ({rows} rows); no class weights: they would distort the",
        "predicted probabilities",
    ]
    metric = BASELINE_METRIC[spec.task]
    baseline = "the mean prediction" if spec.task == "regression" else "the majority class"
    comments.above[(*P, "evaluation")] += [
        f"gates: {metric} at least {BASELINE_MARGIN} above {baseline} on the same holdout;",
        "add absolute floors (gates.min) once you know what a good model scores",
    ]
    if spec.task == "binary":
        comments.trailing[(*P, "evaluation", "threshold")] = "chosen on the cross-validation folds"
    comments.above[(*P, "contract", "columns")].append(
        "kind: numeric (min/max), binary (0/1; yes/no text is read as 1/0) or categorical (categories)"
    )


__all__ = ["Draft", "DraftError", "SourceSection", "draft_training_config", "profile_table"]
