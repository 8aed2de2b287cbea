"""The Seldon v1 protocol without HTTP: what each request form becomes, the answer and error shapes,
the metadata (serving/protocols/seldon.py)."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from serving.protocols import ProtocolError, seldon
from tests.support.served_examples import NAMES, meta, prediction


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
