"""The scale benchmark's tables: sides decided before resampling, numeric columns jittered."""

from __future__ import annotations

import pandas as pd

from bench.scale import DATA, ID, drafted_parameters, make_table, original_sides, split_frame_checked


def test_every_copy_is_on_its_originals_side_and_numbers_are_jittered(tmp_path):
    path = tmp_path / "table.csv"
    make_table(3_000, path, seed=1)
    table = pd.read_csv(path)
    assert len(table) == 3_000 and table[ID].between(0, 7_042).all()
    original = pd.read_csv(DATA)
    copies = original.iloc[table[ID]].reset_index(drop=True)
    assert (table["contract"] == copies["contract"]).all(), "categorical columns are copied as they are"
    assert (table["monthly_charges"] != copies["monthly_charges"]).mean() > 0.9
    assert (table["monthly_charges"] / copies["monthly_charges"]).between(0.7, 1.3).all()
    parameters = drafted_parameters(path)
    assert ID not in parameters.contract.columns and parameters.split.id_column == ID
    train, test = split_frame_checked(table, parameters)  # asserts no original on both sides
    sides = original_sides()
    assert all(sides[row] for row in test[ID]) and not any(sides[row] for row in train[ID])
