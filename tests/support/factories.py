"""Small, deterministic contracts and frames shared by the unit tests (no file reads)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tabular_ml.configuration.schema import ColumnSpec, CountFeature, DataContract, RatioFeature

CONTRACTS = ["Month-to-month", "One year", "Two year"]
SECURITY = ["Yes", "No", "No internet service"]
# Derived features over tiny_frame's columns: a ratio and a count of "Yes" answers.
TINY_FEATURES = [
    RatioFeature(name="avg_monthly", numerator="total", denominator="tenure"),
    CountFeature(name="n_addons", columns=["security", "backup"], values=["Yes"]),
]


def tiny_contract(with_categories: bool = True, columns: tuple[str, ...] | None = None) -> DataContract:
    """A churn-like contract: two numeric, one binary and up to three categorical columns."""
    specs = {
        "tenure": ColumnSpec(kind="numeric"),
        "total": ColumnSpec(kind="numeric"),
        "senior": ColumnSpec(kind="binary"),
        "contract": ColumnSpec(kind="categorical", categories=CONTRACTS if with_categories else None),
        "security": ColumnSpec(kind="categorical", categories=SECURITY if with_categories else None),
        "backup": ColumnSpec(kind="categorical"),
    }
    chosen = {name: spec for name, spec in specs.items() if columns is None or name in columns}
    return DataContract(target="churn", classes=["No", "Yes"], positive_class="Yes", columns=chosen)


def tiny_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """Rows for :func:`tiny_contract` with a balanced ``churn`` target (n must be even)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "tenure": rng.integers(0, 72, n),
            "total": rng.uniform(20, 5000, n).round(2),
            "senior": rng.integers(0, 2, n),
            "contract": rng.choice(CONTRACTS, n),
            "security": rng.choice(SECURITY, n),
            "backup": rng.choice(["Yes", "No"], n),
            "churn": np.tile(["Yes", "No"], n // 2),
        }
    )
