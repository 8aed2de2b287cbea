"""The Open Inference Protocol v2 (KServe, MLServer, Triton, Seldon Core 2) over REST.

``POST /v2/models/{name}/infer`` (or ``.../versions/{version}/infer``) takes the features as
tensors, either one per column (the pandas codec MLServer uses; text columns as ``BYTES``)::

    {"id": "42", "inputs": [
        {"name": "tenure", "datatype": "FP64", "shape": [2], "data": [12, 3]},
        {"name": "contract", "datatype": "BYTES", "shape": [2], "data": ["One year", "Two year"]}]}

or one ``[rows, features]`` tensor holding every feature in the model's order (numbers only in
practice). The answer holds one output per answer column (``prediction``, ``probability``...,
as the Seldon answer's ``names``), each of shape ``[rows]``::

    {"model_name": "churn_classifier", "model_version": "3", "id": "42",
     "outputs": [{"name": "prediction", "datatype": "BYTES", "shape": [2], "data": ["Yes", "No"]}, ...]}

Errors are ``{"error": "..."}`` with a 4xx status, as the protocol says.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

from serving.answers import output_names
from serving.bundle import BundleMeta
from serving.protocols import ProtocolError, top_k_of
from serving.served_model import Prediction

__all__ = ["answer_body", "explain_top_k", "model_metadata_body", "rows_request", "server_metadata_body"]

_TEXT = "BYTES"
_NUMBER_TYPES = frozenset(
    {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64"}
)


def _flat(data: Any) -> list[Any]:
    if not isinstance(data, list):
        raise ProtocolError("an input's 'data' must be a list")
    if data and isinstance(data[0], list):
        return list(chain.from_iterable(_flat(part) for part in data))
    return data


def _shape(tensor: dict, where: str) -> list[int]:
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not shape or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise ProtocolError(f"{where}.shape must be a list of non-negative integers")
    return shape


def _tensor(tensor: Any, i: int) -> tuple[str, list[int], list[Any]]:
    where = f"inputs[{i}]"
    if not isinstance(tensor, dict):
        raise ProtocolError(f"{where} must be an object with name, datatype, shape and data")
    name, datatype = tensor.get("name"), tensor.get("datatype")
    if not isinstance(name, str):
        raise ProtocolError(f"{where}.name must be text")
    if datatype != _TEXT and datatype not in _NUMBER_TYPES:
        raise ProtocolError(f"{where}.datatype must be BYTES or a numeric type, not {str(datatype)[:20]!r}")
    shape, data = _shape(tensor, where), _flat(tensor.get("data"))
    size = 1
    for n in shape:
        size *= n
    if size != len(data):
        raise ProtocolError(f"{where} has {len(data)} values, not the {size} its shape {shape[:4]} says")
    return name, shape, data


def rows_request(body: Any, feature_names: list[str]) -> dict[str, Any]:
    """The inference request as a Seldon ndarray request the request schema parses.

    Raises:
        ProtocolError: For a body that is not an inference request (the schema checks the values).
    """
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or not body["inputs"]:
        raise ProtocolError("an inference request needs 'inputs': a list of tensors")
    tensors = [_tensor(tensor, i) for i, tensor in enumerate(body["inputs"])]
    if len(tensors) == 1 and len(tensors[0][1]) == 2 and tensors[0][1][1] == len(feature_names) > 1:
        _, (n, k), data = tensors[0]
        return {
            "data": {"names": list(feature_names), "ndarray": [data[r * k : (r + 1) * k] for r in range(n)]}
        }
    lengths = {len(data) for _, _, data in tensors}
    if len(lengths) != 1:
        raise ProtocolError(f"the input tensors hold different numbers of rows: {sorted(lengths)[:4]}")
    if any(len(shape) > 2 or (len(shape) == 2 and shape[1] != 1) for _, shape, _ in tensors):
        raise ProtocolError("a column tensor's shape must be [rows] or [rows, 1]")
    names = [name for name, _, _ in tensors]
    return {
        "data": {
            "names": names,
            "ndarray": [list(row) for row in zip(*(data for _, _, data in tensors), strict=True)],
        }
    }


def explain_top_k(body: dict[str, Any]) -> int | None:
    """The request's ``parameters.explain``: None (absent or false), or how many columns each
    row's ``top`` lists (``true``: the default; ``{"top_k": k}``).

    Raises:
        ProtocolError: For any other value.
    """
    parameters = body.get("parameters")
    if parameters is None:
        return None
    if not isinstance(parameters, dict):
        raise ProtocolError("parameters must be an object")
    explain = parameters.get("explain", False)
    if explain is False:
        return None
    if explain is True:
        return top_k_of(None, "parameters.explain.top_k")
    if isinstance(explain, dict) and set(explain) <= {"top_k"}:
        return top_k_of(explain.get("top_k"), "parameters.explain.top_k")
    raise ProtocolError('parameters.explain must be true, false or {"top_k": <0-100>}')


def answer_body(meta: BundleMeta, prediction: Prediction) -> dict[str, Any]:
    """The inference response: one ``[rows]`` output per answer column."""
    rows = prediction.answer.rows
    outputs = []
    for position, name in enumerate(output_names(meta)):
        values = [row[position] for row in rows]
        text = name == "prediction" and meta.task != "regression"
        outputs.append(
            {"name": name, "datatype": _TEXT if text else "FP64", "shape": [len(rows)], "data": values}
        )
    return {
        "model_name": meta.model_name,
        "model_version": meta.model_version,
        "id": prediction.request_id,
        "outputs": outputs,
    }


def model_metadata_body(meta: BundleMeta) -> dict[str, Any]:
    """``GET /v2/models/{name}``: the inputs (one per feature) and outputs."""
    inputs = [
        {"name": feature.name, "datatype": _TEXT if feature.kind == "categorical" else "FP64", "shape": [-1]}
        for feature in meta.features
    ]
    outputs = [
        {
            "name": name,
            "datatype": _TEXT if name == "prediction" and meta.task != "regression" else "FP64",
            "shape": [-1],
        }
        for name in output_names(meta)
    ]
    return {
        "name": meta.model_name,
        "versions": [meta.model_version],
        "platform": "sklearn",
        "inputs": inputs,
        "outputs": outputs,
        "parameters": {"task": meta.task, "target": meta.target, "classes": list(meta.classes)},
    }


def server_metadata_body() -> dict[str, Any]:
    """``GET /v2``: the server's name and the protocol extensions it has (none)."""
    return {"name": "tabular-ml-serving", "version": "2", "extensions": []}
