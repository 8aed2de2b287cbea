"""Current rows (a source or the serving request log) and the production version's reference rows."""

from typing import Annotated

import pandas as pd
from zenml import get_step_context, log_metadata, step
from zenml.logger import get_logger

from adapters.production_stage import production_version
from adapters.source_secrets import source_secrets
from tabular_ml.configuration.schema import CurrentDataConfig, DataContract, ServingConfig, SourceConfig
from tabular_ml.data.sources import load_data
from tabular_ml.modelling.trained_model import TrainedModel
from tabular_ml.monitoring.performance_estimation import MIN_HOLDOUT_ROWS
from tabular_ml.monitoring.prepare import (
    CurrentPerformance,
    clean_current,
    comparison_samples,
    estimated_performance,
    labelled_metrics,
    labelled_rows,
    parse_window,
)
from tabular_ml.monitoring.quality import DataQualityReport, data_quality

logger = get_logger(__name__)


def _read_current(current: CurrentDataConfig, model_name: str) -> pd.DataFrame:
    if current.type != "request_log":
        return load_data(current, secrets=source_secrets(current))
    from serving.request_log import read_request_log

    since = parse_window(current.since) if current.since else None
    return read_request_log(current.path or ServingConfig().request_log_path(model_name), since=since)


def _comparable(
    current: pd.DataFrame, contract: DataContract
) -> tuple[pd.DataFrame, DataContract, list[str]]:
    """``current`` and the contract without the columns the request log hashed or left out.

    The reference holds raw values: against it a hashed column would look wholly drifted and
    unseen, an omitted one missing. Returns the current rows without those columns, the
    contract to check their quality against, and the columns left out (sorted; [] for any
    other source).
    """
    from serving.request_log import HASHED_COLUMNS_ATTR, OMITTED_COLUMNS_ATTR

    hashed = sorted(current.attrs.get(HASHED_COLUMNS_ATTR, ()))
    omitted = sorted(current.attrs.get(OMITTED_COLUMNS_ATTR, ()))
    left_out = sorted({*hashed, *omitted})
    if not left_out:
        return current, contract, []
    logger.info(
        "Not checking %s for quality or drift: the request log holds them hashed %s or not at all %s, "
        "the reference raw",
        left_out,
        hashed,
        omitted,
    )
    kept = {name: spec for name, spec in contract.columns.items() if name not in left_out}
    return (
        current.drop(columns=left_out, errors="ignore"),
        contract.model_copy(update={"columns": kept}),
        left_out,
    )


@step(enable_cache=False)  # the current data and the production version change between runs
def prepare_monitoring_data(
    current: CurrentDataConfig,
    labels: SourceConfig | None,
    key_column: str | None,
    sample_rows: int,
    sample_seed: int,
) -> tuple[
    Annotated[pd.DataFrame, "reference_sample"],
    Annotated[pd.DataFrame, "current_sample"],
    Annotated[DataQualityReport, "data_quality"],
    Annotated[CurrentPerformance, "current_performance"],
]:
    """Clean the current rows as training did, check their quality on every row, sample both sides;
    estimate the model's performance on every row, and measure it on those with a label."""
    model_name = get_step_context().model.name
    version = production_version(model_name)
    if version is None:
        raise RuntimeError(f"model {model_name!r} has no production version to monitor")
    model = TrainedModel.of_version(version)
    contract = model.contract
    reference = version.get_artifact("train_data").load()
    comparable, checked, left_out = _comparable(_read_current(current, model_name), contract)
    frame = clean_current(comparable, model.cleaning, contract)
    quality = data_quality(frame, reference, checked)
    labels_frame = load_data(labels, secrets=source_secrets(labels)) if labels is not None else None
    labelled = labelled_rows(frame, labels_frame, key_column, contract.target)
    unscorable = [name for name in left_out if name in contract.columns]
    if unscorable and not labelled.empty:
        logger.info(
            "No metrics on the %d labelled rows: the model cannot score them without %s",
            len(labelled),
            unscorable,
        )
    metrics = {} if unscorable else labelled_metrics(labelled, model)
    performance = _performance(version, model, frame, unscorable, sample_seed)
    performance = performance.model_copy(update={"realized": metrics, "labelled_rows": len(labelled)})
    if performance.note:
        logger.info(performance.note.capitalize())
    reference_sample, current_sample = comparison_samples(
        reference, frame, model, contract, sample_rows, sample_seed
    )
    sampled = {
        "current_rows": len(frame),
        "sampled_rows": len(current_sample),
        "labelled_rows": len(labelled),
        **({"columns_not_compared": left_out} if left_out else {}),
    }
    log_metadata({"monitoring_data": {**sampled, "model_version": version.number}})
    logger.info("Monitoring version %s on %s", version.number, sampled)
    return reference_sample, current_sample, quality, performance


def _performance(
    version, model: TrainedModel, frame: pd.DataFrame, unscorable: list[str], seed: int
) -> CurrentPerformance:
    """The estimate on every current row, from the version's holdout (``test_data``), or why none."""
    if unscorable:
        return CurrentPerformance(note=f"no estimate: the model cannot score the rows without {unscorable}")
    if frame.empty:
        return CurrentPerformance(note="no estimate: no current rows")
    try:
        holdout = version.get_artifact("test_data").load()
    except (KeyError, RuntimeError):
        return CurrentPerformance(note="no estimate: the version has no test_data (holdout) artifact")
    if len(holdout) < MIN_HOLDOUT_ROWS:
        return CurrentPerformance(
            note=f"no estimate: the holdout has {len(holdout)} rows (at least {MIN_HOLDOUT_ROWS} are needed)"
        )
    estimated = estimated_performance(model, holdout, frame, seed=seed)
    logger.info("Estimated performance on %d rows: %s", len(frame), estimated)
    return CurrentPerformance(estimated=estimated)
