"""The wire protocols the server speaks: Seldon Core v1 (:mod:`.seldon`) and the Open Inference
Protocol v2 (:mod:`.oip`). Each turns its request into the Seldon row forms the request schema
parses and the served model's :class:`~serving.served_model.Prediction` into its own answer; no
HTTP here (that is :mod:`serving.app`)."""


class ProtocolError(ValueError):
    """A request the protocol cannot read (answered 4xx with the message).

    Attributes:
        status: The HTTP status to answer with.
    """

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status
