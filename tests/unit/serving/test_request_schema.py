"""The serving request schema: both Seldon request forms, dtypes, nulls, and every error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

import serving.request_schema as request_schema
from serving.bundle import FeatureColumn
from serving.request_schema import DEFAULT_MAX_ROWS, RequestError, RequestSchema
from tabular_ml.configuration.schema import DataContract
from tests.support.paths import PROJECT_ROOT

COLUMNS = [
    FeatureColumn(name="tenure", kind="numeric"),
    FeatureColumn(name="contract", kind="categorical", categories=["Month-to-month", "One year", "Two year"]),
    FeatureColumn(name="senior", kind="binary"),
    FeatureColumn(name="payment", kind="categorical"),  # no categories: nothing is "unknown"
    FeatureColumn(name="total", kind="numeric"),
]
NAMES = [column.name for column in COLUMNS]
ROWS = [
    [12, "One year", 0, "Mailed check", 1000.5],
    [1, "Month-to-month", 1, "Electronic check", 29.85],
    [70, "Two year", 0, "Credit card", 7000.0],
]


@pytest.fixture
def schema() -> RequestSchema:
    return RequestSchema(COLUMNS, max_rows=5)


def ndarray(rows=ROWS, names=NAMES) -> dict:
    return {"data": {"names": list(names), "ndarray": [list(row) for row in rows]}}


def records(rows=ROWS, names=NAMES) -> list[dict]:
    return [dict(zip(names, row, strict=True)) for row in rows]


def expected_frame(rows=ROWS) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=NAMES)
    return frame.astype(
        {"tenure": "float64", "senior": "float64", "total": "float64", "contract": object, "payment": object}
    )


def parse_error(schema: RequestSchema, request) -> RequestError:
    with pytest.raises(RequestError) as info:
        schema.parse(request)
    return info.value


# ---------------------------------------------------------------------- good requests


def test_ndarray_form_builds_the_frame_with_model_dtypes(schema):
    parsed = schema.parse(ndarray())
    pd.testing.assert_frame_equal(parsed.frame, expected_frame())
    assert parsed.form == "ndarray"
    assert parsed.n_rows == 3
    assert parsed.frame.dtypes.to_dict() == {
        "tenure": np.float64,
        "contract": object,
        "senior": np.float64,
        "payment": object,
        "total": np.float64,
    }
    assert isinstance(parsed.frame.index, pd.RangeIndex)


def test_names_in_any_order_give_the_model_order(schema):
    order = [4, 2, 0, 3, 1]
    shuffled = ndarray([[row[i] for i in order] for row in ROWS], [NAMES[i] for i in order])
    pd.testing.assert_frame_equal(schema.parse(shuffled).frame, expected_frame())


def test_json_data_records_and_a_single_record(schema):
    parsed = schema.parse({"jsonData": records()})
    pd.testing.assert_frame_equal(parsed.frame, expected_frame())
    assert parsed.form == "jsonData"
    single = schema.parse({"jsonData": records()[1]})
    pd.testing.assert_frame_equal(single.frame, expected_frame(ROWS[1:2]))


def test_one_row_frame_equals_the_pandas_built_frame(schema):
    one = schema.parse(ndarray(ROWS[:1])).frame
    pd.testing.assert_frame_equal(one, expected_frame(ROWS[:1]))
    one["derived"] = one["total"] / one["tenure"]  # an ordinary, writable frame
    assert one.loc[0, "derived"] == pytest.approx(1000.5 / 12)


def test_block_fast_path_equals_the_public_constructor(schema, monkeypatch):
    assert request_schema._FAST_FRAME, "the block fast path should work with this pandas"
    fast = schema.parse(ndarray()).frame
    monkeypatch.setattr(request_schema, "_FAST_FRAME", False)
    pd.testing.assert_frame_equal(schema.parse(ndarray()).frame, fast)


def test_nulls_are_allowed_and_become_nan(schema):
    rows = [[None, None, None, None, float("nan")], ROWS[1]]
    frame = schema.parse(ndarray(rows)).frame
    assert frame.iloc[0].isna().all()
    assert frame.dtypes["tenure"] == np.float64 and frame.dtypes["contract"] == np.dtype(object)
    assert frame.loc[0, "contract"] is not None and np.isnan(frame.loc[0, "contract"])  # NaN, like read_csv
    assert frame.iloc[1].notna().all()


def test_unknown_categories_are_allowed_and_counted(schema):
    rows = [[1, "Three year", 0, "Bitcoin", 1.0], [2, "Decade", 1, "Cash", 2.0], [3, None, 0, None, 3.0]]
    parsed = schema.parse(ndarray(rows))
    assert parsed.unknown_categories == {"contract": 2}  # payment has no category list; null is not unknown
    assert parsed.frame["contract"].tolist()[:2] == ["Three year", "Decade"]
    assert schema.parse(ndarray()).unknown_categories == {}


def test_booleans_and_numpy_scalars_are_numbers(schema):
    rows = [[np.int64(5), "One year", True, "x", np.float32(2.5)]]
    frame = schema.parse(ndarray(rows)).frame
    assert frame.loc[0, ["tenure", "senior", "total"]].tolist() == [5.0, 1.0, 2.5]


def test_schema_from_the_telco_contract_parses_csv_rows_like_read_csv():
    config = yaml.safe_load((PROJECT_ROOT / "configs/training.yaml").read_text())
    contract = DataContract(**config["parameters"]["contract"])
    schema = RequestSchema.from_contract(contract)
    data = pd.read_csv(PROJECT_ROOT / "data/raw/telco_churn.csv")[contract.feature_names]
    sample = pd.concat([data[data["total_charges"].isna()].head(2), data.head(8)]).reset_index(drop=True)
    rows = sample.astype(object).where(sample.notna(), None).to_numpy().tolist()
    frame = schema.parse({"data": {"names": contract.feature_names, "ndarray": rows}}).frame
    numeric = contract.columns_of_kind("numeric") + contract.columns_of_kind("binary")
    pd.testing.assert_frame_equal(frame, sample.astype(dict.fromkeys(numeric, "float64")))
    assert frame["total_charges"].isna().sum() == 2


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("request_body", "field", "fragment"),
    [
        ({}, "data", "the request has no data"),
        ({"meta": {}}, "data", "has no data"),
        ([1, 2], "request", "must be a JSON object"),
        ({"data": {"names": NAMES, "ndarray": ROWS}, "jsonData": {}}, "request", "not both"),
        ({"data": [1]}, "data", "'data' must be an object"),
        (
            {"data": {"names": NAMES, "tensor": {"shape": [1, 5], "values": [0] * 5}}},
            "data.ndarray",
            "data.ndarray is required (got data.tensor)",
        ),
        ({"data": {"ndarray": ROWS}}, "data.names", "data.names is required"),
        (
            {"data": {"names": [*NAMES, "tenure"], "ndarray": ROWS}},
            "data.names",
            "repeats column(s) ['tenure']",
        ),
        ({"data": {"names": NAMES, "ndarray": "rows"}}, "data.ndarray", "must be a list of rows"),
        ({"data": {"names": NAMES, "ndarray": [ROWS[0], 7]}}, "data.ndarray[1]", "must be a row"),
        ({"jsonData": "x"}, "jsonData", "record (object) or a list of records"),
        ({"jsonData": [records()[0], 3]}, "jsonData[1]", "must be a record"),
    ],
)
def test_malformed_requests_name_the_field(schema, request_body, field, fragment):
    error = parse_error(schema, request_body)
    assert error.field == field
    assert fragment in str(error)
    assert isinstance(error, ValueError)


def test_unknown_columns_are_named(schema):
    error = parse_error(schema, ndarray([[*row, 1] for row in ROWS], [*NAMES, "colour"]))
    assert error.field == "data.names"
    assert str(error) == "data.names: unknown column(s) ['colour']"


def test_missing_columns_are_named(schema):
    error = parse_error(schema, ndarray([row[1:] for row in ROWS], NAMES[1:]))
    assert str(error) == "data.names: missing column(s) ['tenure']"


def test_a_misspelt_column_is_both_unknown_and_missing(schema):
    error = parse_error(schema, ndarray(ROWS, ["tenur", *NAMES[1:]]))
    assert str(error) == "data.names: unknown column(s) ['tenur']; missing column(s) ['tenure']"


def test_json_data_records_with_other_keys_are_named_by_index(schema):
    rows = records()
    rows[2] = {**rows[2], "colour": "red"}
    error = parse_error(schema, {"jsonData": rows})
    assert (error.field, str(error)) == ("jsonData[2]", "jsonData[2]: unknown column(s) ['colour']")
    rows = records()
    del rows[1]["total"]
    assert str(parse_error(schema, {"jsonData": rows})) == "jsonData[1]: missing column(s) ['total']"
    assert str(parse_error(schema, {"jsonData": {"tenure": 1}})).startswith(
        "jsonData: missing column(s) ['contract', 'senior', 'payment', 'total']"
    )


def test_row_length_must_match_names(schema):
    rows = [ROWS[0], ROWS[1][:-1], ROWS[2]]
    error = parse_error(schema, ndarray(rows))
    assert error.field == "data.ndarray[1]"
    assert str(error) == "data.ndarray[1] has 4 values but data.names has 5"
    error = parse_error(schema, ndarray([ROWS[0], [*ROWS[1], 9]]))
    assert str(error) == "data.ndarray[1] has 6 values but data.names has 5"


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        (
            "tenure",
            "twelve",
            "column 'tenure' (numeric) needs numbers or null; row 2 holds text 'twelve' (not a number)",
        ),
        (
            "senior",
            "yes",
            "column 'senior' (binary) needs numbers or null; row 2 holds text 'yes' (not a number)",
        ),
        ("total", [1.0], "column 'total' (numeric) needs numbers or null; row 2 holds a list [1.0]"),
        ("contract", 2, "column 'contract' (categorical) needs text or null; row 2 holds a number 2"),
        ("total", float("inf"), "column 'total' (numeric): row 2 is infinite"),
    ],
)
def test_wrong_value_types_name_column_and_row(schema, column, value, message):
    rows = [list(row) for row in ROWS]
    rows[2][NAMES.index(column)] = value
    for request in (ndarray(rows), {"jsonData": records(rows)}):
        error = parse_error(schema, request)
        assert (error.field, str(error)) == (column, message)


def test_zero_rows(schema):
    assert str(parse_error(schema, ndarray([]))) == "data.ndarray has 0 rows: send at least one row"
    assert str(parse_error(schema, {"jsonData": []})) == "jsonData has 0 rows: send at least one row"


def test_more_rows_than_the_maximum(schema):
    error = parse_error(schema, ndarray(ROWS * 2))
    assert error.field == "data.ndarray"
    assert str(error) == (
        "data.ndarray has 6 rows, more than the maximum of 5 per request (SERVING_MAX_ROWS): "
        "send smaller batches"
    )
    error = parse_error(schema, {"jsonData": records() * 2})
    assert "jsonData has 6 rows, more than the maximum of 5" in str(error)
    assert schema.parse(ndarray(ROWS + ROWS[:2])).n_rows == 5


def test_the_defaults_are_10_000_rows_and_reject():
    """The server's settings (SERVING_MAX_ROWS, SERVING_CONTRACT_VIOLATIONS) pass these in."""
    schema = RequestSchema(COLUMNS)
    assert (schema.max_rows, schema.violations) == (DEFAULT_MAX_ROWS, "reject") == (10_000, "reject")


def test_schema_rejects_bad_column_definitions():
    with pytest.raises(ValueError, match="at least one column"):
        RequestSchema([])
    with pytest.raises(ValueError, match="max_rows must be positive"):
        RequestSchema(COLUMNS, max_rows=0)


def test_numeric_text_is_read_as_training_cleaning_reads_it(schema):
    rows = [list(row) for row in ROWS]
    rows[0][0], rows[1][0], rows[2][0] = "12\n", "  ", " 1e1"
    rows[0][4] = "29.85 "
    frame = schema.parse(ndarray(rows)).frame
    assert frame["tenure"].tolist()[:1] + frame["tenure"].tolist()[2:] == [12.0, 10.0]
    assert np.isnan(frame.loc[1, "tenure"])  # blank text is a missing value, as cleaning makes it
    assert frame.loc[0, "total"] == 29.85


def test_error_messages_quote_long_values_shortened(schema):
    rows = [list(row) for row in ROWS]
    rows[1][0] = "x" * 1_000_000
    message = str(parse_error(schema, ndarray(rows)))
    assert message.startswith("column 'tenure' (numeric) needs numbers or null; row 1 holds text 'xxx")
    assert len(message) < 200
    nested: list = []
    for _ in range(500):
        nested = [nested]
    rows[1][0] = nested
    assert "row 1 holds a list [[[...]]]" in str(parse_error(schema, ndarray(rows)))


def test_repeated_names_are_found_in_linear_time(schema):
    names = NAMES + ["tenure"] * 50_000
    error = parse_error(schema, {"data": {"names": names, "ndarray": [[0] * len(names)]}})
    assert str(error) == "data.names repeats column(s) ['tenure']"


BOUNDED = [
    FeatureColumn(name="tenure", kind="numeric", min=0, max=120),
    FeatureColumn(name="female", kind="binary"),
    FeatureColumn(name="contract", kind="categorical", categories=["One year"]),
]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ([-5, 0, "One year"], "column 'tenure' breaks the data contract (minimum 0): row 0 holds -5"),
        ([121, 1, "One year"], "column 'tenure' breaks the data contract (maximum 120): row 0 holds 121"),
        (
            [5, 7, "One year"],
            "column 'female' breaks the data contract (binary value (0 or 1)): row 0 holds 7",
        ),
        (
            [5, 1.7e308, None],
            "column 'female' breaks the data contract (binary value (0 or 1)): row 0 holds 1.7e+308",
        ),
        (
            [-1, 0.5, None],
            "column 'tenure' breaks the data contract (minimum 0): row 0 holds -1 (and 1 more)",
        ),
    ],
)
def test_values_breaking_the_contract_are_rejected_naming_column_and_rule(row, message):
    schema = RequestSchema(BOUNDED, violations="reject")
    names = [c.name for c in BOUNDED]
    error = parse_error(schema, ndarray([[0, 1, "One year"], row], names))
    assert str(error) == message.replace("row 0", "row 1")


def test_values_breaking_the_contract_are_flagged_when_configured():
    schema = RequestSchema(BOUNDED, violations="flag")
    names = [c.name for c in BOUNDED]
    parsed = schema.parse(ndarray([[-5, 7, "One year"], [3, None, None], [120, 1, "x"]], names))
    assert [(v.row, v.column, v.rule, v.value) for v in parsed.violations] == [
        (0, "tenure", "minimum 0", -5.0),
        (0, "female", "binary value (0 or 1)", 7.0),
    ]
    assert parsed.frame["tenure"].tolist() == [-5.0, 3.0, 120.0]  # the values are kept as sent
    with pytest.raises(ValueError, match=r"violations must be one of \['reject', 'flag'\], got 'ignore'"):
        RequestSchema(BOUNDED, violations="ignore")


def test_the_frame_is_built_only_when_asked_for(schema, monkeypatch):
    parsed = schema.parse(ndarray())
    assert "frame" not in parsed.__dict__
    assert parsed.numeric.shape == (3, 3) and parsed.text.shape == (2, 3)
    pd.testing.assert_frame_equal(parsed.frame, expected_frame())
    assert parsed.frame is parsed.frame  # built once
