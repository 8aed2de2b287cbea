"""Production against the challenger served in shadow, on the live rows of the request log."""

from typing import Annotated, Any

from zenml import get_step_context, log_metadata, step
from zenml.client import Client
from zenml.logger import get_logger

from tabular_ml.configuration.schema import CurrentDataConfig, ServingConfig
from tabular_ml.modelling.trained_model import TrainedModel
from tabular_ml.monitoring.prepare import estimated_performance, parse_window
from tabular_ml.monitoring.shadow_comparison import compare_predictions, shadow_rows

logger = get_logger(__name__)


def _estimated(model_name: str, version: str, rows, left_out: list[str], seed: int) -> dict[str, Any]:
    """The version's metrics estimated on ``rows`` ({} when its rows or holdout cannot be scored)."""
    try:
        model_version = Client().get_model_version(model_name, int(version))
        model = TrainedModel.of_version(model_version)
    except (KeyError, ValueError) as exc:  # a version deleted since it was served: no estimate
        logger.warning("No estimate for version %s of %s: %s", version, model_name, exc)
        return {}
    unscorable = sorted(set(left_out) & set(model.contract.feature_names))
    if unscorable:
        logger.info(
            "No estimate for version %s: the request log holds %s hashed or not at all", version, unscorable
        )
        return {}
    try:
        holdout = model_version.get_artifact("test_data").load()
    except (KeyError, RuntimeError):
        logger.info("No estimate for version %s: it has no test_data (holdout) artifact", version)
        return {}
    return estimated_performance(model, holdout, rows, seed=seed)


@step(enable_cache=False)  # the request log grows between runs
def compare_shadow(current: CurrentDataConfig, sample_seed: int = 0) -> Annotated[dict, "shadow_comparison"]:
    """Agreement of production and the shadow on the logged rows both scored, and each model's
    estimated performance there; recorded on the run (``shadow``) and on the challenger's
    version (``shadow_evidence``, which ``promotion.require_shadow`` reads). {} without a shadow."""
    if current.type != "request_log":
        return {}
    from serving.request_log import HASHED_COLUMNS_ATTR, OMITTED_COLUMNS_ATTR, read_request_log

    model_name = get_step_context().model.name
    since = parse_window(current.since) if current.since else None
    log = read_request_log(current.path or ServingConfig().request_log_path(model_name), since=since)
    rows = shadow_rows(log)
    if rows.empty:
        logger.info("No shadow predictions in the request log: nothing to compare")
        return {}
    left_out = [*log.attrs.get(HASHED_COLUMNS_ATTR, ()), *log.attrs.get(OMITTED_COLUMNS_ATTR, ())]
    production, shadow = str(rows["model_version"].iloc[-1]), str(rows["shadow_model_version"].iloc[-1])
    rows = rows[rows["model_version"].astype(str) == production]
    task = TrainedModel.of_version(Client().get_model_version(model_name, int(production))).target.task
    estimated = {
        "production": _estimated(model_name, production, rows, left_out, sample_seed),
        "shadow": _estimated(model_name, shadow, rows, left_out, sample_seed),
    }
    evidence = compare_predictions(rows, task, estimated).as_metadata()
    logger.info(
        "Shadow version %s against production %s on %d requests (%d rows): agreement %s, "
        "mean |difference| %.4f",
        shadow,
        production,
        evidence["requests"],
        evidence["rows"],
        evidence["agreement"],
        evidence["mean_abs_difference"],
    )
    log_metadata({"shadow": evidence})
    log_metadata({"shadow_evidence": evidence}, model_name=model_name, model_version=shadow)
    return evidence
