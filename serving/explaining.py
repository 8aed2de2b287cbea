"""Per-row explanations of the served model (see :mod:`tabular_ml.modelling.explanations`).

Built once when the server loads a model: the background rows are the bundle's reference rows
(the first rows of the version's test split, as batch scoring and the evaluation report use),
and the estimator's inputs come from the compiled path when the server scores with it (it agrees
with the Pipeline, see :mod:`serving.scoring`), else from the Pipeline's own ``transform``.
So a served explanation is the one ``Explainer(...).explain`` gives in-process.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from serving.request_schema import ParsedRequest, RequestError, RequestSchema
from serving.scoring import Unsupported, compile_inputs
from tabular_ml.modelling.explanations import BACKGROUND_ROWS, DEFAULT_TOP_K, Explainer
from tabular_ml.tasks.target import TargetSpec

__all__ = ["ServedExplainer", "load_explainer"]

logger = logging.getLogger(__name__)


class ServedExplainer:
    """Explains parsed requests' rows for one served Pipeline."""

    def __init__(
        self,
        pipeline: Any,
        schema: RequestSchema,
        target: TargetSpec,
        reference: dict | None,
        compiled: bool,
    ) -> None:
        background = None
        if reference:
            try:  # all of them (they may be more than SERVING_MAX_ROWS), violations or not
                rows = RequestSchema(schema.columns, max_rows=BACKGROUND_ROWS, violations="flag")
                background = rows.parse(reference).frame
            except RequestError as exc:
                logger.warning("Explanations without the bundle's reference rows: %s", exc)
        self.explainer = Explainer(pipeline, target, list(schema.names), background)
        self._inputs = compile_inputs(pipeline, schema) if compiled else None
        if background is not None:  # shap compiles (numba) on its first call: not on a client's request
            self.explainer.attribute_frame(background.head(1))

    def explain(self, parsed: ParsedRequest, top_k: int = DEFAULT_TOP_K) -> list[dict[str, Any]]:
        """Each row's explanation as JSON (see :class:`~tabular_ml.modelling.explanations.RowExplanation`)."""
        with np.errstate(all="ignore"):
            inputs = (
                self._inputs(parsed) if self._inputs is not None else self.explainer.transform(parsed.frame)
            )
        found = self.explainer.attribute(inputs)
        return [row.as_dict() for row in self.explainer.rows(found, top_k)]


def load_explainer(
    pipeline: Any, schema: RequestSchema, target: TargetSpec, reference: dict | None, compiled: bool
) -> tuple[ServedExplainer | None, str]:
    """The explainer, or None with the one-line reason explanations are not served."""
    try:
        return ServedExplainer(pipeline, schema, target, reference, compiled), ""
    except (ValueError, Unsupported) as exc:
        logger.warning("Explanations are not served: %s", exc)
        return None, str(exc)
