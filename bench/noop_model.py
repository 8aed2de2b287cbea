"""A Seldon model that does no work: the floor of seldon-core's HTTP layer for the serving bench.

It answers every request with the same body, shaped as the project's answer to one row.
"""

from __future__ import annotations

from typing import Any

ANSWER = {
    "data": {"names": ["prediction", "probability"], "ndarray": [["No", 0.25]]},
    "meta": {"tags": {"model_name": "noop", "model_version": "0"}},
}


class NoopModel:
    def load(self) -> None:
        pass

    def predict_raw(self, request: Any) -> dict[str, Any]:
        return {"data": ANSWER["data"], "meta": {"tags": dict(ANSWER["meta"]["tags"])}}

    def health_status_raw(self) -> dict[str, Any]:
        return {"jsonData": {"status": "ok"}}
