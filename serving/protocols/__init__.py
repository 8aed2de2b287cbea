"""The wire protocols the server speaks: Seldon Core v1 (:mod:`.seldon`) and the Open Inference
Protocol v2 (:mod:`.oip`). Each turns its request into the Seldon row forms the request schema
parses and the served model's :class:`~serving.served_model.Prediction` into its own answer; no
HTTP here (that is :mod:`serving.app`)."""

from typing import Any

from tabular_ml.modelling.explanations import DEFAULT_TOP_K

MAX_TOP_K = 100  # an explanation's ``top`` at most (every column is in ``contributions`` anyway)


class ProtocolError(ValueError):
    """A request the protocol cannot read (answered 4xx with the message).

    Attributes:
        status: The HTTP status to answer with.
    """

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def top_k_of(value: Any, where: str) -> int:
    """A client's ``top_k`` (a whole number from 0 to 100, also as query text); None: the default."""
    if value is None:
        return DEFAULT_TOP_K
    if isinstance(value, str) and value.isdigit() and len(value) <= 3:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TOP_K:
        raise ProtocolError(f"{where} must be a whole number from 0 to {MAX_TOP_K}, not {str(value)[:20]!r}")
    return value
