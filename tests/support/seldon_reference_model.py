"""The thinnest Seldon Core class over the project's served model: the conformance oracle.

``seldon-core-microservice tests.support.seldon_reference_model.ReferenceModel`` answers the Seldon
protocol with seldon-core's own Flask app (request decoding, error answers, routes) and the
project's model behind it, so tests/integration/test_seldon_conformance.py can compare the
project's app with seldon-core request for request. Test-only: seldon-core is under the Business
Source License and never ships in the serving image.
"""

from __future__ import annotations

from typing import Any

from seldon_core.flask_utils import SeldonMicroserviceException
from seldon_core.user_model import SeldonComponent

from serving.metrics import ServingMetrics
from serving.protocols import seldon
from serving.request_schema import RequestError
from serving.served_model import ServedModel
from serving.settings import load_settings


class ReferenceModel(SeldonComponent):
    """Seldon's user-model interface over :class:`serving.served_model.ServedModel`."""

    def __init__(self) -> None:
        super().__init__()
        self.served: ServedModel | None = None

    def load(self) -> None:
        self.served = ServedModel.load(load_settings(), ServingMetrics())

    def predict_raw(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            prediction = self.served.predict(request, seldon.client_request_id(request))
        except RequestError as exc:
            raise SeldonMicroserviceException(str(exc), status_code=400, reason=seldon.BAD_REQUEST) from exc
        return seldon.answer_body(self.served.meta, prediction)

    def health_status_raw(self) -> dict[str, Any]:
        return seldon.health_status_body(self.served.meta)

    def init_metadata(self) -> dict[str, Any]:
        return seldon.metadata_body(ServedModel.load(load_settings(), ServingMetrics()).meta)
