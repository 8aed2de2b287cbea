"""The scale benchmark: its tables (sides decided before resampling, columns mixed within a class)
and its per-step peaks."""

from __future__ import annotations

import pandas as pd
import pytest

from bench.scale import DATA, ID, drafted_parameters, make_table, original_sides, split_frame_checked


def test_rows_mix_columns_of_their_class_and_stay_on_their_bases_side(tmp_path):
    path = tmp_path / "table.csv"
    make_table(3_000, path, seed=1)
    table = pd.read_csv(path)
    assert len(table) == 3_000 and table[ID].between(0, 7_042).all()
    original = pd.read_csv(DATA)
    bases = original.iloc[table[ID]].reset_index(drop=True)
    assert (table["churn"] == bases["churn"]).all(), "the target is the base row's"
    # about half of the columns come from another original (MIX): new combinations, not copies
    assert 0.6 < (table["contract"] == bases["contract"]).mean() < 0.86
    assert (table["monthly_charges"] != bases["monthly_charges"]).mean() > 0.9  # jittered
    # donors share the base's class: each class keeps its own distribution of a column
    for label in ("Yes", "No"):
        made, real = table[table["churn"] == label], original[original["churn"] == label]
        share = (made["contract"] == "Month-to-month").mean() - (real["contract"] == "Month-to-month").mean()
        assert abs(share) < 0.05, (label, share)
        assert made["monthly_charges"].mean() == pytest.approx(real["monthly_charges"].mean(), rel=0.03)
    parameters = drafted_parameters(path)
    assert ID not in parameters.contract.columns and parameters.split.id_column == ID
    train, test = split_frame_checked(table, parameters)  # asserts no original on both sides
    sides = original_sides()
    assert all(sides[row] for row in test[ID]) and not any(sides[row] for row in train[ID])


def test_a_steps_peak_is_the_largest_sample_in_its_window():
    from datetime import UTC, datetime

    from bench.scale import PeakMemory, _epoch

    memory = PeakMemory(interval=60)
    memory.stop()
    memory.samples = [(10.0, 5), (11.0, 9), (12.5, 7), (14.0, 20)]
    assert memory.peak_between(10.5, 13.0) == 9
    assert memory.peak_between(14.0, 15.0) == 20
    assert memory.peak_between(15.0, 16.0) == 0  # no sample: no peak
    naive = datetime(2026, 12, 6, 9, 0, 0)  # the store's times are UTC without a zone
    assert _epoch(naive) == _epoch(naive.replace(tzinfo=UTC)) == 1796547600.0
