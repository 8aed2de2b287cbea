"""Check the cleaned data against the data contract and resolve the task; stop on any violation."""

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step
from zenml.logger import get_logger

from tabular_ml.configuration.schema import DataContract
from tabular_ml.data.contract import ContractReport, DataContractError, validate_frame
from tabular_ml.tasks.target import TargetSpec, Task, resolve_target

logger = get_logger(__name__)


@step
def validate_data(
    clean_data: pd.DataFrame, contract: DataContract, task: Task | None = None
) -> tuple[Annotated[ContractReport, "contract_report"], Annotated[TargetSpec, "target"]]:
    """Validate every contract rule, then resolve the target: the task, its classes, their order.

    Violations are logged as step metadata, then the step fails. The task is the configured
    one or inferred from the target's values; either way the run's output states it.
    """
    report = validate_frame(clean_data, contract)
    log_metadata({"contract_passed": report.passed, "violations": [v.describe() for v in report.violations]})
    if not report.passed:
        raise DataContractError(report)
    logger.info(report.summary())
    target = resolve_target(
        clean_data[contract.target], contract.target, task, contract.classes, contract.positive_class
    )
    logger.info(target.describe())
    log_metadata(
        {"task": target.task, "classes": target.classes}, artifact_name="target", infer_artifact=True
    )
    return report, target
