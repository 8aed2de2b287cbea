"""A Seldon model that does no work: the floor of the model server's HTTP layer for the serving bench.

It answers every request with the same body, shaped as the project's answer to one row, behind
the project's HTTP guard (``model_error_handler``) and gunicorn set-up (importing
``serving.model_server`` applies it: the project's worker unless ``SERVING_FAST_WORKER=off``,
the loopback bind), so that its floor is the one of the project's server on either worker.
"""

from __future__ import annotations

from typing import Any

import serving.model_server  # noqa: F401 - configures gunicorn as for the project's model
from serving.http_guard import HTTP_GUARD

ANSWER = {
    "data": {"names": ["prediction", "probability"], "ndarray": [["No", 0.25]]},
    "meta": {"tags": {"model_name": "noop", "model_version": "0"}},
}


class NoopModel:
    model_error_handler = HTTP_GUARD

    def load(self) -> None:
        pass

    def predict_raw(self, request: Any) -> dict[str, Any]:
        return {"data": ANSWER["data"], "meta": {"tags": dict(ANSWER["meta"]["tags"])}}

    def health_status_raw(self) -> dict[str, Any]:
        return {"jsonData": {"status": "ok"}}
