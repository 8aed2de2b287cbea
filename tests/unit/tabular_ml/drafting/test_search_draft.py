"""The drafted search shrinks with the data (tabular_ml/drafting/search_draft.py)."""

from __future__ import annotations

import pytest

from tabular_ml.drafting.search_draft import draft_search


@pytest.mark.parametrize(
    ("rows", "cv", "c_grid", "forest_space"),
    [
        (500, 5, [0.01, 0.1, 1.0, 10.0], {"max_depth": [None, 10], "min_samples_leaf": [1, 5]}),
        (7_043, 5, [0.03, 0.1, 0.3, 1.0], {"max_depth": [10, None], "min_samples_leaf": [10, 20]}),
        (2_000_000, 3, [0.1, 1.0], {"min_samples_leaf": [50]}),
    ],
)
def test_the_search_shrinks_with_the_data(rows, cv, c_grid, forest_space):
    search = draft_search("binary", rows)
    assert search["cv"] == cv
    assert search["algorithms"][0]["search_space"] == {"C": c_grid}
    assert search["algorithms"][1]["search_space"] == forest_space
