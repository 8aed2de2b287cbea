"""Checks of a training configuration against its data, before any pipeline starts.

``python run.py --config X.yaml --check-data`` reads the configured source, cleans it,
validates the contract, resolves the target, builds the derived features on a sample and
checks the gates' metric names: what a training run would find only after its pipeline has
started (or after a whole search), in seconds and with every problem listed at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from sklearn.pipeline import Pipeline

from tabular_ml.configuration.schema import QualityGates, TrainingParameters
from tabular_ml.configuration.suggest import did_you_mean
from tabular_ml.data.cleaning import clean_frame, columns_left_out
from tabular_ml.data.contract import validate_frame
from tabular_ml.modelling.features import build_feature_steps, referenced_columns
from tabular_ml.tasks.metric_names import describe_unknown_metric, metric_names
from tabular_ml.tasks.target import TargetError, TargetSpec, resolve_target

#: Derived features are built on at most this many rows.
FEATURE_SAMPLE_ROWS = 1000


@dataclass
class CheckReport:
    """What was checked (``lines``) and what is wrong (``problems``, one line each)."""

    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _check_target(
    cleaned: pd.DataFrame, parameters: TrainingParameters, report: CheckReport
) -> TargetSpec | None:
    contract = parameters.contract
    if contract.target not in cleaned.columns:
        report.problems.append(
            f"contract.target: column {contract.target!r} is not in the data"
            + did_you_mean(contract.target, cleaned.columns)
        )
        return None
    labels = cleaned[contract.target]
    missing = int(labels.isna().sum())
    if missing:
        report.problems.append(f"target {contract.target!r}: {missing} row(s) have no value")
    try:
        spec = resolve_target(
            labels, contract.target, parameters.task, contract.classes, contract.positive_class
        )
    except TargetError as error:
        report.problems.append(str(error))
        return None
    report.lines.append(spec.describe())
    return spec


def _check_split(cleaned: pd.DataFrame, parameters: TrainingParameters, report: CheckReport) -> None:
    id_column = parameters.split.id_column
    if id_column is not None and id_column not in cleaned.columns:
        report.problems.append(
            f"split.id_column: column {id_column!r} is not in the data"
            + did_you_mean(id_column, cleaned.columns)
        )


def _check_features(cleaned: pd.DataFrame, parameters: TrainingParameters, report: CheckReport) -> None:
    """Every derived feature's inputs exist; then the features are built on a sample."""
    features = parameters.features
    if not features:
        return
    available = list(parameters.contract.feature_names)
    failed = False
    for spec in features:
        for column in referenced_columns(spec):
            if column in available:
                continue
            failed = True
            hint = (
                " (it is in the data: add it to contract.columns)"
                if column in cleaned.columns
                else did_you_mean(column, [*available, *cleaned.columns])
            )
            report.problems.append(
                f"feature {spec.name!r} ({spec.kind}) references missing column {column!r}{hint}"
            )
        available.append(spec.name)
    if failed or not set(parameters.contract.feature_names) <= set(cleaned.columns):
        return  # the contract's violations already name the missing columns
    try:
        steps = build_feature_steps(features, parameters.contract.feature_names)
    except ValueError as error:  # a bad name: twice, with '__', or shadowing a column
        report.problems.append(f"features: {_first_line(error)}")
        return
    sample = cleaned[parameters.contract.feature_names].head(FEATURE_SAMPLE_ROWS)
    try:
        built = Pipeline(steps).fit_transform(sample)
    except Exception as error:  # any failure of a feature is the config's problem: one line
        report.problems.append(
            f"derived features fail on a sample of {len(sample)} rows: {_first_line(error)}"
        )
        return
    names = [spec.name for spec in features]
    all_missing = [name for name in names if built[name].isna().all()]
    report.lines.append(f"derived features built on a sample of {len(sample)} rows: {', '.join(names)}")
    for name in all_missing:
        report.problems.append(f"feature {name!r} is missing in every row of the sample")


def _check_gates(gates: QualityGates, spec: TargetSpec | None, report: CheckReport) -> None:
    """Gate names the evaluation of the data's task cannot produce (e.g. roc_auc for a regression)."""
    if spec is None:
        return
    for kind in ("min", "max", "beat_baseline"):
        for name in getattr(gates, kind):
            if name not in metric_names(spec.task):
                report.problems.append(
                    f"evaluation.gates.{kind}: " + describe_unknown_metric(name, spec.task)
                )


def check_training_data(frame: pd.DataFrame, parameters: TrainingParameters) -> CheckReport:
    """Every check of ``parameters`` against ``frame`` (the data as loaded from the source)."""
    report = CheckReport()
    cleaned, summary = clean_frame(frame, parameters.cleaning, parameters.contract)
    changes = {
        key: value for key, value in summary.as_metadata().items() if key not in ("rows_in", "rows_out")
    }
    report.lines.append(
        f"cleaned {summary.rows_in} -> {summary.rows_out} rows"
        + "".join(f"; {key}: {value}" for key, value in changes.items() if value)
    )
    spec = _check_target(cleaned, parameters, report)
    contract = validate_frame(cleaned, parameters.contract, with_target=False)
    if contract.passed:
        report.lines.append(contract.summary())
    report.problems += [f"contract: {violation.describe()}" for violation in contract.violations]
    _check_split(cleaned, parameters, report)
    _check_features(cleaned, parameters, report)
    _check_gates(parameters.evaluation.gates, spec, report)
    left_out = columns_left_out(cleaned.columns, parameters.contract, parameters.split.id_column)
    report.lines.append(
        f"columns in the data the contract leaves out (not used): {', '.join(left_out)}"
        if left_out
        else "every column of the data is used"
    )
    if parameters.split.id_column in cleaned.columns:
        report.lines.append(f"split.id_column {parameters.split.id_column!r}: used by the split only")
    return report
