"""HTTP client of the served model (a local microservice or a Seldon deployment).

``predict`` posts a DataFrame's rows as ``data.names`` + ``data.ndarray`` in
batches and returns the predictions as a DataFrame aligned with the input;
``wait_until_ready`` polls ``/health/status`` until the model is loaded.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import requests

__all__ = ["PREDICTIONS_PATH", "PredictionError", "predict", "predictions_url", "wait_until_ready"]

logger = logging.getLogger(__name__)

PREDICTIONS_PATH = "/api/v1.0/predictions"
HEALTH_PATH = "/health/status"


class PredictionError(RuntimeError):
    """The server refused or failed a request (or could not be reached).

    Attributes:
        status_code: The HTTP status, or ``None`` when there was no answer.
    """

    def __init__(self, message: str, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


def predictions_url(endpoint: str) -> str:
    """The predictions URL of an endpoint.

    A bare server address (``http://127.0.0.1:9000``) gets ``/api/v1.0/predictions``;
    a URL with a path (a Seldon ingress path ending in ``.../api/v1.0/predictions``)
    is used as given.
    """
    endpoint = endpoint.strip()
    if "://" not in endpoint:
        endpoint = f"http://{endpoint}"
    if urlsplit(endpoint).path in ("", "/"):
        return endpoint.rstrip("/") + PREDICTIONS_PATH
    return endpoint


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} {value!r} cannot be sent as JSON")


def _rows(frame: pd.DataFrame) -> list[list[Any]]:
    """The frame's rows as JSON-ready lists, missing values (NaN, None, NA) as null."""
    values = frame.astype(object).to_numpy()
    mask = pd.isna(values)
    if mask.any():
        values[mask] = None
    return values.tolist()


def _error_message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason
    status = body.get("status") if isinstance(body, dict) else None
    if isinstance(status, dict) and status.get("info"):
        reason = f" [{status['reason']}]" if status.get("reason") else ""
        return f"{status['info']}{reason}"
    return json.dumps(body)[:500]


def predict(
    endpoint: str,
    frame: pd.DataFrame,
    timeout: float = 10,
    batch_size: int = 1000,
    session: requests.Session | None = None,
) -> pd.DataFrame:
    """Predictions for every row of ``frame`` from a served model.

    Args:
        endpoint: The server (``http://host:port``) or its full predictions URL.
        frame: The raw feature columns (extra columns make the server answer 400).
        timeout: Seconds per HTTP request.
        batch_size: Rows per request (keep it at or below the server's ``SERVING_MAX_ROWS``).
        session: A ``requests.Session`` to reuse connections; a new one by default.

    Returns:
        ``prediction``, ``probability`` and ``model_version`` per row, with ``frame``'s index.

    Raises:
        PredictionError: With the server's message on a 4xx/5xx answer, or when the
            server cannot be reached or answers something that is not a prediction.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    url = predictions_url(endpoint)
    names = [str(name) for name in frame.columns]
    own_session = session is None
    http = session or requests.Session()
    parts: list[pd.DataFrame] = []
    try:
        for start in range(0, len(frame), batch_size):
            batch = frame.iloc[start : start + batch_size]
            payload = {"data": {"names": names, "ndarray": _rows(batch)}}
            body = json.dumps(payload, default=_json_default, allow_nan=False)
            try:
                response = http.post(
                    url, data=body, headers={"Content-Type": "application/json"}, timeout=timeout
                )
            except requests.RequestException as exc:
                raise PredictionError(f"cannot reach {url}: {exc}") from exc
            if response.status_code >= 400:
                raise PredictionError(
                    f"{url} answered {response.status_code} for rows {start}..{start + len(batch) - 1}: "
                    f"{_error_message(response)}",
                    status_code=response.status_code,
                )
            parts.append(_parse_response(response, batch.index, url))
    finally:
        if own_session:
            http.close()
    if not parts:
        return pd.DataFrame(
            {
                "prediction": pd.Series(dtype=object),
                "probability": pd.Series(dtype="float64"),
                "model_version": pd.Series(dtype=object),
            },
            index=frame.index[:0],
        )
    return pd.concat(parts)


def _parse_response(response: requests.Response, index: pd.Index, url: str) -> pd.DataFrame:
    try:
        body = response.json()
        data = body["data"]
        rows = data["ndarray"]
        names = data["names"]
        version = str(body.get("meta", {}).get("tags", {}).get("model_version", ""))
        columns = list(zip(*rows, strict=True)) if rows else [(), ()]
        by_name = dict(zip(names, columns, strict=True))
        prediction, probability = by_name["prediction"], by_name["probability"]
    except (ValueError, KeyError, TypeError) as exc:
        raise PredictionError(
            f"{url} answered {response.status_code} without predictions: {response.text[:300]}",
            status_code=response.status_code,
        ) from exc
    if len(prediction) != len(index):
        raise PredictionError(f"{url} returned {len(prediction)} predictions for {len(index)} rows")
    return pd.DataFrame(
        {
            "prediction": list(prediction),
            "probability": np.asarray(probability, dtype=np.float64),
            "model_version": version,
        },
        index=index,
    )


def wait_until_ready(base_url: str, timeout_s: float = 30.0, interval_s: float = 0.2) -> dict[str, Any]:
    """Poll ``<base_url>/health/status`` until it answers 200.

    Returns:
        The health answer (``{"jsonData": {"status": "ok", "model_version": ...}, ...}``).

    Raises:
        TimeoutError: After ``timeout_s`` seconds, with the last answer or error.
    """
    if "://" not in base_url:
        base_url = f"http://{base_url}"
    url = base_url.rstrip("/") + HEALTH_PATH
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while True:
        try:
            response = requests.get(url, timeout=max(0.5, min(5.0, timeout_s)))
            if response.status_code == 200:
                return response.json()
            last = f"{response.status_code}: {_error_message(response)}"
        except requests.RequestException as exc:
            last = f"{type(exc).__name__}: {exc}"
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{url} not ready after {timeout_s:g} s (last: {last})")
        time.sleep(min(interval_s, remaining))


def model_inputs(endpoint: str, timeout: float = 10) -> list[str]:
    """The feature columns a served model takes, from its Seldon metadata (``/api/v1.0/metadata``)."""
    url = predictions_url(endpoint).rsplit("/predictions", 1)[0] + "/metadata"
    try:
        response = requests.get(url, timeout=timeout)
        response.raise_for_status()
        return list(response.json()["inputs"][0]["schema"]["names"])
    except (requests.RequestException, ValueError, KeyError, IndexError) as exc:
        raise PredictionError(f"cannot read the model's inputs from {url}: {exc}") from exc
