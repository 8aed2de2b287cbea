"""What a column's values say of it: ranges rounded outwards, missing-share headroom, identifiers
(tabular_ml/drafting/column_profile.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabular_ml.drafting.column_profile import _nice_bounds, infer_kind, looks_like_id_name, missing_headroom


@pytest.mark.parametrize(
    ("low", "high", "bounds"),
    [
        (0, 72, (0, 80)),
        (18.25, 118.75, (0, 130)),  # 8.2 -> 0 (never negative), 128.8 -> 130
        (-5.0, 5.0, (-6.0, 6.0)),
        (0.34, 5.08, (0, 5.6)),
        (2019, 2020, (2018.9, 2020.1)),
        (0.0012, 0.0031, (0.001, 0.0033)),
    ],
)
def test_ranges_are_widened_and_rounded_outwards(low, high, bounds):
    assert _nice_bounds(low, high) == pytest.approx(bounds)


@pytest.mark.parametrize(("share", "limit"), [(0.0016, 0.01), (0.05, 0.07), (0.4, 0.5), (0.9, 1.0)])
def test_missing_share_headroom(share, limit):
    assert missing_headroom(share) == limit


@pytest.mark.parametrize(
    ("name", "is_id"),
    [
        ("customer_id", True),
        ("customerID", True),
        ("id", True),
        ("order-key", True),
        ("paid", False),
        ("idle", False),
    ],
)
def test_identifier_names(name, is_id):
    assert looks_like_id_name(name) is is_id


def test_consecutive_integers_are_an_identifier_and_other_integers_are_not():
    assert infer_kind(pd.Series(range(100, 150)), "row").role == "identifier"
    spread = infer_kind(pd.Series([3 * i * i for i in range(50)]), "amount")
    assert (spread.role, spread.kind) == ("feature", "numeric")
    assert infer_kind(pd.Series(np.linspace(0, 1, 50)), "score").kind == "numeric"  # unique floats
