"""Check the cleaned data against the data contract; stop the pipeline on any violation."""

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step
from zenml.logger import get_logger

from tabular_ml.config import DataContract
from tabular_ml.contract import ContractReport, DataContractError, validate_frame

logger = get_logger(__name__)


@step
def validate_data(
    clean_data: pd.DataFrame, contract: DataContract
) -> Annotated[ContractReport, "contract_report"]:
    """Validate every contract rule; violations are logged as step metadata, then the step fails."""
    report = validate_frame(clean_data, contract)
    log_metadata({"contract_passed": report.passed, "violations": [v.describe() for v in report.violations]})
    if not report.passed:
        raise DataContractError(report)
    logger.info(report.summary())
    return report
