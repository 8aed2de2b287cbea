"""Small frames for the monitoring tests: a contract, seeded rows (shifted on request), drift summaries."""

import numpy as np
import pandas as pd
from evidently.legacy.metric_preset import DataDriftPreset
from evidently.legacy.pipeline.column_mapping import ColumnMapping
from evidently.legacy.report import Report

from tabular_ml.configuration.schema import DataContract
from tabular_ml.monitoring.drift import column_roles, summarise_drift

CONTRACT = DataContract(
    target="y",
    classes=["No", "Yes"],
    positive_class="Yes",
    columns={
        "amount": {"kind": "numeric", "min": 0, "max": 100},
        "plan": {"kind": "categorical", "categories": ["a", "b", "c"]},
        "flag": {"kind": "binary"},
    },
)


def frame(n: int, seed: int, amount_shift: float = 0.0, plan_p=(0.5, 0.3, 0.2)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = np.clip(rng.normal(40 + amount_shift, 10, n), 0, 100)
    plan = rng.choice(["a", "b", "c"], n, p=plan_p)
    flag = rng.integers(0, 2, n)
    y = np.where(amount / 100 + 0.3 * flag + rng.normal(0, 0.2, n) > 0.6, "Yes", "No")
    return pd.DataFrame({"amount": amount, "plan": plan, "flag": flag, "y": y})


def evidently_summary(reference: pd.DataFrame, current: pd.DataFrame):
    roles = column_roles(CONTRACT, with_prediction=False)
    report = Report(metrics=[DataDriftPreset()])
    report.run(reference_data=reference, current_data=current, column_mapping=ColumnMapping(**roles))
    return summarise_drift(report.as_dict(), CONTRACT.feature_names, len(reference), len(current))
