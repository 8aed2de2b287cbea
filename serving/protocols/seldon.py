"""The Seldon Core v1 microservice protocol, as ``SeldonClient`` and Seldon's executor use it.

Requests (``POST /api/v1.0/predictions``, ``/api/v0.1/predictions`` or ``/predict``)::

    {"data": {"names": ["tenure", ...], "ndarray": [[12, ...], ...]}, "meta": {"puid": "..."}}
    {"jsonData": [{"tenure": 12, ...}, ...]}        # or one record: {"jsonData": {...}}

as a JSON body or, as seldon-core accepts it too, in a ``json`` query or form field. Answers::

    {"data": {"names": ["prediction", "probability"], "ndarray": [["Yes", 0.81], ...]},
     "meta": {"puid": "...", "tags": {"model_name": "...", "model_version": "3"}}}

and errors as seldon-core writes them: ``{"status": {"status": 1, "info": "...", "code": -1,
"reason": "..."}}`` (``MICROSERVICE_BAD_DATA`` for a body that is not JSON, ``BAD_REQUEST`` for a
request the model cannot answer, as the project's Seldon class answered them).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from serving.answers import output_names
from serving.bundle import BundleMeta
from serving.contract_flags import VIOLATIONS_TAG, violation_tags
from serving.protocols import ProtocolError
from serving.served_model import Prediction

__all__ = [
    "BAD_DATA",
    "BAD_REQUEST",
    "EXPLAIN_PATHS",
    "PREDICTION_PATHS",
    "answer_body",
    "error_body",
    "health_status_body",
    "metadata_body",
    "request_payload",
]

PREDICTION_PATHS = frozenset({"/api/v1.0/predictions", "/api/v0.1/predictions", "/predict"})
#: The same request answered with each row's explanation too (Seldon's explainer route).
EXPLAIN_PATHS = frozenset({"/api/v1.0/explain", "/explain"})
BAD_DATA = "MICROSERVICE_BAD_DATA"
BAD_REQUEST = "BAD_REQUEST"
FORM_TYPE = "application/x-www-form-urlencoded"


def decode_json(text: bytes | str) -> Any:
    """JSON text decoded; :class:`ProtocolError` for text that is not JSON, or nested too deep."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:120]
        raise ProtocolError(f"the request is not valid JSON: {reason}") from None


def query_field(query: bytes | str, name: str) -> str | None:
    """The first value of the query string's field ``name`` (None when absent)."""
    return _field(query, name)


def _field(query: bytes | str, name: str = "json") -> str | None:
    text = query.decode("latin-1") if isinstance(query, bytes) else query
    values = parse_qs(text, keep_blank_values=False).get(name)
    return values[0] if values else None


def _is_json_type(media_type: str) -> bool:
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def request_payload(body: bytes, content_type: str, query: bytes) -> Any:
    """The request's JSON: a ``json`` form field, else a ``json`` query field, else a JSON body.

    Raises:
        ProtocolError: 415 for a body that is neither JSON nor a form (seldon-core's Flask app
            refuses it too), 400 when no JSON object is found.
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    text = _field(body.decode("latin-1")) if media_type == FORM_TYPE else None
    text = text or (_field(query) if query else None)
    if text is None and media_type != FORM_TYPE and not _is_json_type(media_type):
        raise ProtocolError(
            f"send the request as application/json, not {media_type[:60] or 'no content type'}", 415
        )
    payload = decode_json(text if text is not None else body) if (text or body) else None
    if not isinstance(payload, dict):
        raise ProtocolError("Can't find JSON in data: send a JSON object with 'data' or 'jsonData'")
    return payload


def client_request_id(payload: dict) -> Any:
    """The client's ``meta.puid``, if any (Seldon's executor sets one per request)."""
    meta = payload.get("meta")
    return meta.get("puid") if isinstance(meta, dict) else None


def answer_body(meta: BundleMeta, prediction: Prediction) -> dict[str, Any]:
    """The Seldon answer for a prediction (see the module doc)."""
    tags: dict[str, Any] = {"model_name": meta.model_name, "model_version": meta.model_version}
    if prediction.parsed.violations:
        tags[VIOLATIONS_TAG] = violation_tags(prediction.parsed.violations)
    return {
        "data": {"names": output_names(meta), "ndarray": prediction.answer.rows},
        "meta": {"puid": prediction.request_id, "tags": tags},
    }


def error_body(message: str, reason: str = BAD_REQUEST) -> dict[str, Any]:
    """seldon-core's error answer."""
    return {"status": {"status": 1, "info": message, "code": -1, "reason": reason}}


def health_status_body(meta: BundleMeta) -> dict[str, Any]:
    """``/health/status``: what is served."""
    tags = {"model_name": meta.model_name, "model_version": meta.model_version}
    return {"jsonData": {"status": "ok", **tags}, "meta": {"tags": tags}}


_JSON_TYPES = {"numeric": ["number", "null"], "binary": ["number", "null"], "categorical": ["string", "null"]}


def metadata_body(meta: BundleMeta) -> dict[str, Any]:
    """``/api/v1.0/metadata``: Seldon's model metadata (inputs as ndarray and jsonData schemas)."""
    properties: dict[str, Any] = {}
    for feature in meta.features:
        prop: dict[str, Any] = {"type": _JSON_TYPES[feature.kind], "description": feature.kind}
        if feature.categories is not None:
            prop["examples"] = list(feature.categories)
        properties[feature.name] = prop
    record = {
        "type": "object",
        "properties": properties,
        "required": meta.feature_names,
        "additionalProperties": False,
    }
    binary = (
        {
            "positive_class": meta.positive_class,
            "negative_label": meta.negative_label,
            "threshold": str(meta.threshold),
        }
        if meta.task == "binary"
        else {}
    )
    return {
        "name": meta.model_name,
        "versions": [meta.model_version],
        "platform": "sklearn",
        "inputs": [
            {"messagetype": "ndarray", "schema": {"names": meta.feature_names}},
            {"messagetype": "jsonData", "schema": {"oneOf": [record, {"type": "array", "items": record}]}},
        ],
        "outputs": [{"messagetype": "ndarray", "schema": {"names": output_names(meta)}}],
        "custom": {
            "task": meta.task,
            "target": meta.target,
            "classes": json.dumps(meta.classes),
            **binary,
            "created_at": meta.created_at,
            "feature_kinds": json.dumps({feature.name: feature.kind for feature in meta.features}),
        },
    }
