"""Text columns load as categoricals: the same values as before in less memory, and every step
after loading (cleaning, the contract, the split, the model) gives what the text columns gave."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LogisticRegression

from tabular_ml.configuration.run_config import resolve_config
from tabular_ml.configuration.schema import FileSource, SplitConfig, SqlSource, TrainingParameters
from tabular_ml.data.cleaning import clean_frame
from tabular_ml.data.contract import validate_frame
from tabular_ml.data.sources import load_data
from tabular_ml.data.splitting import row_keys, split_frame
from tabular_ml.modelling.model import build_model, encode_target
from tests.support.paths import PROJECT_ROOT, TELCO_CSV

TEXT = [
    "churn",
    "multiple_lines",
    "internet_service",
    "online_security",
    "online_backup",
    "device_protection",
    "tech_support",
    "streaming_tv",
    "streaming_movies",
    "contract",
    "payment_method",
]


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype({name: object for name in frame.columns if frame[name].dtype == "category"})


@pytest.fixture(scope="module")
def params() -> TrainingParameters:
    config = resolve_config(PROJECT_ROOT / "configs/training.yaml", [], "training", False)
    return TrainingParameters(**config["parameters"])


@pytest.fixture(scope="module")
def messy(tmp_path_factory) -> Path:
    """The bundled table with padded and blank text cells, yes/no words in a binary column."""
    frame = pd.read_csv(TELCO_CSV)
    rng = np.random.default_rng(0)
    for name in ("contract", "payment_method", "churn"):
        rows = rng.choice(len(frame), 170, replace=False)
        frame.loc[rows[:150], name] = " " + frame.loc[rows[:150], name] + "  "
        frame.loc[rows[150:], name] = "  "
    frame["partner"] = frame["partner"].map({1: "Yes", 0: "no"})
    path = tmp_path_factory.mktemp("messy") / "messy.csv"
    frame.to_csv(path, index=False)
    return path


def test_csv_text_columns_load_as_categoricals_holding_the_same_values(expected) -> None:
    loaded = load_data(FileSource(path=str(TELCO_CSV)))
    assert [name for name in loaded.columns if loaded[name].dtype == "category"] == TEXT
    assert loaded["total_charges"].dtype == np.float64
    pd.testing.assert_frame_equal(as_text(loaded), expected)
    assert loaded.memory_usage(deep=True).sum() < 0.3 * expected.memory_usage(deep=True).sum()


def test_parquet_sql_and_globs_give_the_same_categoricals(expected, tmp_path, sqlite_url) -> None:
    pq.write_table(pa.Table.from_pandas(expected, preserve_index=False), tmp_path / "t.parquet")
    # two parts whose text columns hold different values: the union of both parts' categories
    expected.iloc[:3000].to_csv(tmp_path / "part-1.csv", index=False)
    expected.iloc[3000:].assign(contract="Ten year").to_csv(tmp_path / "part-2.csv", index=False)
    glob_expected = pd.concat([expected.iloc[:3000], expected.iloc[3000:].assign(contract="Ten year")])
    for source, values in (
        (FileSource(path=str(tmp_path / "t.parquet")), expected),
        (SqlSource(url=sqlite_url, query="SELECT * FROM telco ORDER BY rowid"), expected),
        (FileSource(path=str(tmp_path / "part-*.csv")), glob_expected.reset_index(drop=True)),
    ):
        loaded = load_data(source)
        assert [name for name in loaded.columns if loaded[name].dtype == "category"] == TEXT, source
        pd.testing.assert_frame_equal(as_text(loaded), values)
    assert set(loaded["contract"].cat.categories) == {"Month-to-month", "One year", "Two year", "Ten year"}


def test_cleaning_categories_equals_cleaning_text(messy, params) -> None:
    loaded = load_data(FileSource(path=str(messy)))
    assert loaded["contract"].dtype == "category" and loaded["partner"].dtype == "category"
    text_values, category_values = {}, {}
    from_text, text_summary = clean_frame(as_text(loaded), params.cleaning, params.contract, text_values)
    cleaned, summary = clean_frame(loaded, params.cleaning, params.contract, category_values)
    assert summary == text_summary
    assert summary.cells_stripped == {"churn": 170, "contract": 170, "payment_method": 170}  # blanks too
    assert summary.blanks_to_missing == {"churn": 20, "contract": 20, "payment_method": 20}
    assert summary.binary_words_to_numbers == {"partner": 7043}
    assert cleaned["contract"].dtype == "category" and cleaned["partner"].dtype == np.int64
    assert list(cleaned["contract"].cat.categories) == ["Month-to-month", "One year", "Two year"]
    pd.testing.assert_frame_equal(as_text(cleaned), from_text.fillna(np.nan))  # None and NaN alike
    assert category_values == text_values


def test_contract_split_and_model_see_the_same_rows(params) -> None:
    loaded = load_data(FileSource(path=str(TELCO_CSV)))
    cleaned, _ = clean_frame(loaded, params.cleaning, params.contract)
    from_text, _ = clean_frame(as_text(loaded), params.cleaning, params.contract)
    assert validate_frame(cleaned, params.contract) == validate_frame(from_text, params.contract)
    split = SplitConfig()
    (train, test), (text_train, text_test) = (
        split_frame(f, params.contract, split) for f in (cleaned, from_text)
    )
    pd.testing.assert_frame_equal(as_text(train), text_train)
    pd.testing.assert_frame_equal(as_text(test), text_test)
    features, target = params.contract.feature_names, params.contract.target
    scores = []
    for rows, holdout in ((train, test), (text_train, text_test)):
        model = build_model(params.contract, params.preprocessing, [], LogisticRegression(max_iter=1000))
        model.fit(rows[features], encode_target(rows[target], params.contract))
        scores.append(model.predict_proba(holdout[features])[:, 1])
    np.testing.assert_allclose(scores[0], scores[1], rtol=0, atol=1e-12)


def test_row_keys_of_categoricals_are_those_of_their_text() -> None:
    text = pd.DataFrame({"a": ["x", None, "y", "x"], "b": [1.0, 2, np.nan, 4], "c": ["p", "q", "p", np.nan]})
    categorical = text.astype({"a": "category", "c": "category"})
    keys = row_keys(text, ["a", "b", "c"])
    np.testing.assert_array_equal(row_keys(categorical, ["a", "b", "c"]), keys)
    assert len(set(keys)) == 4
