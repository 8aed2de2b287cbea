"""The wire protocols without HTTP: what each request form becomes, what each answer looks like."""

from __future__ import annotations

import json
from urllib.parse import quote

import numpy as np
import pytest

from serving.answers import Answer
from serving.bundle import BundleMeta, FeatureColumn
from serving.protocols import ProtocolError, oip, seldon
from serving.served_model import Prediction, request_id_of

NAMES = ["tenure", "contract"]


def meta(task: str = "binary") -> BundleMeta:
    classes = {"binary": ["No", "Yes"], "multiclass": ["a", "b", "c"], "regression": []}[task]
    return BundleMeta(
        model_name="m",
        model_version="4",
        features=[
            FeatureColumn(name="tenure", kind="numeric"),
            FeatureColumn(name="contract", kind="categorical"),
        ],
        task=task,
        target="y",
        classes=classes,
        positive_class="Yes" if task == "binary" else None,
        threshold=0.4 if task == "binary" else None,
        created_at="2026-12-05T00:00:00+00:00",
    )


def prediction(rows: list[list], request_id: str = "r1") -> Prediction:
    answer = Answer(rows=rows, labels=[row[0] for row in rows], score=np.zeros(len(rows)))
    return Prediction(answer=answer, parsed=type("Parsed", (), {"violations": ()})(), request_id=request_id)


# ---------------------------------------------------------------------- Seldon v1


def test_a_json_body_a_form_field_and_a_query_field_are_read():
    body = {"data": {"names": NAMES, "ndarray": [[1, "x"]]}}
    text = json.dumps(body)
    assert seldon.request_payload(text.encode(), "application/json; charset=utf-8", b"") == body
    form = f"json={quote(text)}".encode()
    assert seldon.request_payload(form, "application/x-www-form-urlencoded", b"") == body
    query = f"json={quote(text)}".encode()
    assert seldon.request_payload(b"", "", query) == body
    assert seldon.request_payload(text.encode(), "application/vnd.api+json", b"") == body


@pytest.mark.parametrize(
    ("body", "content_type", "query", "status", "message"),
    [
        (b"{nope", "application/json", b"", 400, "the request is not valid JSON: Expecting property name"),
        (
            b"[" * 50_000 + b"]" * 50_000,
            "application/json",
            b"",
            400,
            "the request is not valid JSON: nested too deeply",
        ),
        (b"[1]", "application/json", b"", 400, "Can't find JSON in data"),
        (b"null", "application/json", b"", 400, "Can't find JSON in data"),
        (b"{}", "text/plain", b"", 415, "send the request as application/json, not text/plain"),
        (b"", "", b"", 415, "send the request as application/json, not no content type"),
        (b"", "", b"json=x", 400, "the request is not valid JSON: Expecting value"),
        (b"\xff\xfe", "application/json", b"", 400, "the request is not valid JSON"),
    ],
)
def test_what_is_not_a_json_object_is_a_protocol_error(body, content_type, query, status, message):
    with pytest.raises(ProtocolError) as error:
        seldon.request_payload(body, content_type, query)
    assert error.value.status == status
    assert str(error.value).startswith(message)


def test_the_seldon_answer_and_error_shapes():
    answer = seldon.answer_body(meta(), prediction([["Yes", 0.8], ["No", 0.1]]))
    assert answer == {
        "data": {"names": ["prediction", "probability"], "ndarray": [["Yes", 0.8], ["No", 0.1]]},
        "meta": {"puid": "r1", "tags": {"model_name": "m", "model_version": "4"}},
    }
    assert seldon.error_body("bad", "BAD_REQUEST") == {
        "status": {"status": 1, "info": "bad", "code": -1, "reason": "BAD_REQUEST"}
    }
    assert seldon.client_request_id({"meta": {"puid": "p"}}) == "p"
    assert seldon.client_request_id({"meta": "x"}) is None


def test_metadata_lists_inputs_and_outputs():
    body = seldon.metadata_body(meta("multiclass"))
    assert body["inputs"][0] == {"messagetype": "ndarray", "schema": {"names": NAMES}}
    assert body["outputs"][0]["schema"]["names"] == [
        "prediction",
        "probability_a",
        "probability_b",
        "probability_c",
    ]
    assert body["custom"]["task"] == "multiclass" and "threshold" not in body["custom"]


@pytest.mark.parametrize(
    ("candidate", "kept"),
    [
        ("abc-1", True),
        ("\ud800", False),
        ("", False),
        ("x" * 129, False),
        ("a\nb", False),
        (17, False),
        (None, False),
    ],
)
def test_a_client_request_id_is_kept_only_when_usable(candidate, kept):
    identifier = request_id_of(candidate)
    assert (identifier == candidate) is kept
    if not kept:
        assert len(identifier) == 32 and identifier.encode("utf-8")


# ---------------------------------------------------------------------- Open Inference Protocol v2


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
