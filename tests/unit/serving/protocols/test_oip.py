"""The Open Inference Protocol v2 without HTTP: tensors to rows, malformed requests, the answer's
outputs (serving/protocols/oip.py)."""

from __future__ import annotations

import pytest

from serving.protocols import ProtocolError, oip
from tests.support.served_examples import NAMES, meta, prediction


def test_column_tensors_become_rows():
    body = {
        "inputs": [
            {"name": "tenure", "datatype": "FP64", "shape": [2], "data": [12, 3]},
            {"name": "contract", "datatype": "BYTES", "shape": [2, 1], "data": [["One year"], ["Two year"]]},
        ]
    }
    assert oip.rows_request(body, NAMES) == {
        "data": {"names": NAMES, "ndarray": [[12, "One year"], [3, "Two year"]]}
    }


def test_one_matrix_tensor_in_model_order_becomes_rows():
    body = {"inputs": [{"name": "input-0", "datatype": "FP32", "shape": [2, 2], "data": [1, 2, 3, 4]}]}
    assert oip.rows_request(body, NAMES) == {"data": {"names": NAMES, "ndarray": [[1, 2], [3, 4]]}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "an inference request needs 'inputs'"),
        ({"inputs": []}, "an inference request needs 'inputs'"),
        ({"inputs": ["x"]}, "inputs[0] must be an object"),
        (
            {"inputs": [{"name": 1, "datatype": "FP64", "shape": [1], "data": [1]}]},
            "inputs[0].name must be text",
        ),
        (
            {"inputs": [{"name": "a", "datatype": "COMPLEX", "shape": [1], "data": [1]}]},
            "inputs[0].datatype must be",
        ),
        (
            {"inputs": [{"name": "a", "datatype": "FP64", "shape": "1", "data": [1]}]},
            "inputs[0].shape must be",
        ),
        (
            {"inputs": [{"name": "a", "datatype": "FP64", "shape": [3], "data": [1]}]},
            "inputs[0] has 1 values, not the 3",
        ),
        (
            {
                "inputs": [
                    {"name": "a", "datatype": "FP64", "shape": [1], "data": [1]},
                    {"name": "b", "datatype": "FP64", "shape": [2], "data": [1, 2]},
                ]
            },
            "the input tensors hold different numbers of rows",
        ),
    ],
)
def test_a_malformed_inference_request_is_a_protocol_error(body, message):
    with pytest.raises(
        ProtocolError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")
    ):
        oip.rows_request(body, NAMES)


def test_the_inference_answer_has_one_output_per_column():
    binary = oip.answer_body(meta(), prediction([["Yes", 0.8], ["No", 0.1]], "id-9"))
    assert binary == {
        "model_name": "m",
        "model_version": "4",
        "id": "id-9",
        "outputs": [
            {"name": "prediction", "datatype": "BYTES", "shape": [2], "data": ["Yes", "No"]},
            {"name": "probability", "datatype": "FP64", "shape": [2], "data": [0.8, 0.1]},
        ],
    }
    regression = oip.answer_body(meta("regression"), prediction([[1.5]]))
    assert regression["outputs"] == [{"name": "prediction", "datatype": "FP64", "shape": [1], "data": [1.5]}]
    metadata = oip.model_metadata_body(meta("multiclass"))
    assert [i["datatype"] for i in metadata["inputs"]] == ["FP64", "BYTES"]
    assert [o["name"] for o in metadata["outputs"]] == [
        "prediction",
        "probability_a",
        "probability_b",
        "probability_c",
    ]
