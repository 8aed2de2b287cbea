"""Rollback: put an earlier model version back into production."""

from typing import Annotated

from zenml import get_step_context, step
from zenml.client import Client
from zenml.logger import get_logger

from adapters.production_stage import production_version, record_decision, set_production, version_to_restore
from tabular_ml.model_management.decisions import decision_record, is_trained

logger = get_logger(__name__)


@step(enable_cache=False)
def restore_production(to_version: int | None = None) -> Annotated[int, "restored_version"]:
    """Set ``to_version`` (default: the previous production version) to production.

    The version rolled back from is marked ``rolled_back``, so no later deployment run
    picks it as challenger again: a rollback sticks until a newer version wins promotion.
    """
    name = get_step_context().model.name
    current = production_version(name)
    if to_version is None:
        to_version = version_to_restore(name)
    try:
        target = Client().get_model_version(name, to_version)
    except KeyError:
        raise RuntimeError(f"model {name!r} has no version {to_version}") from None
    if not is_trained(target.run_metadata):
        raise RuntimeError(f"version {to_version} of {name!r} never finished training; it cannot be served")
    if current is not None and current.id == target.id:
        logger.info("Model %s: version %s is already production", name, to_version)
        return to_version
    set_production(name, target, current)  # both registries, or neither
    if current is not None:
        record_decision(
            name, current.number, decision_record("rolled_back", f"rolled back to version {to_version}")
        )
    reason = f"restored by a rollback from version {current.number if current else 'none'}"
    record_decision(
        name,
        to_version,
        decision_record("restored", reason),
        rolled_back_from=current.number if current else None,
    )
    logger.info(
        "Model %s: version %s is production again (was %s)",
        name,
        to_version,
        current.number if current else "none",
    )
    return to_version
