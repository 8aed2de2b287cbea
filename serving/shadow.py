"""A challenger scored in shadow: on every answered row, logged beside production's, never answered.

The server loads the shadow bundle beside production's (``SERVING_SHADOW_DIR``, or the
``shadow/`` folder of the served bundle, :data:`serving.bundle.SHADOW_DIR`) with its own
scorer (the compiled path when it agrees with its Pipeline). It scores the rows production's
request schema parsed, as the request log queued them, in the log's writer thread, a batch of
up to thousands of rows at a time (:class:`serving.request_log.RequestLogWriter`'s ``shadow``).

Why off the request path and batched, not per request: per request, the shadow's scoring
costs as much as production's (a compiled row is about 100 microseconds of numpy calls,
nearly all per-call overhead), which added 16 % to the server's CPU per request and 28 % to its
p99 in a first measurement; batched (512 rows a call, the GIL let go between calls) it costs
about 2.4 microseconds a row and the answer waits for none of it (bench/results/shadow.md).
The price: the shadow needs the request log (without it there is nothing to keep its
predictions in, and it is not loaded), and its predictions reach the log when the rows do
(every ``SERVING_REQUEST_LOG_FLUSH_S``).

A shadow never fails an answer: a shadow that cannot be loaded is logged and left out; one
whose scores raise leaves its rows' shadow columns missing (counted by the writer).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from serving.answers import answer
from serving.bundle import SHADOW_DIR, BundleMeta, load_bundle, read_bundle_meta
from serving.reference_rows import read_reference_request
from serving.request_schema import ParsedRequest, RequestSchema
from serving.scoring import Scorer, choose_scorer

__all__ = ["ShadowModel", "ShadowOutput", "load_shadow", "shadow_directory"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShadowOutput:
    """The shadow's predictions of some rows: labels as text and the score per row."""

    labels: list[str]
    score: np.ndarray
    model_version: str


class ShadowModel:
    """The challenger's bundle and scorer, fed the blocks production's request schema parsed.

    Args:
        meta: The shadow bundle's metadata.
        scorer: Its scorer.
        schema: Production's request schema (the one that parsed the rows).
    """

    def __init__(self, meta: BundleMeta, scorer: Scorer, schema: RequestSchema) -> None:
        self.meta = meta
        self.scorer = scorer
        self.schema = schema

    def score_rows(self, numeric: np.ndarray, text: np.ndarray) -> ShadowOutput:
        """The shadow's output for rows given as parsed blocks (``ParsedRequest.numeric``, ``.text``)."""
        parsed = ParsedRequest(numeric=numeric, text=text, schema=self.schema)
        result = answer(self.meta, self.scorer.scores(parsed))
        return ShadowOutput([str(label) for label in result.labels], result.score, self.meta.model_version)


def shadow_directory(model_dir: Path, shadow_dir: Path | None) -> Path | None:
    """Where the shadow bundle is: ``shadow_dir`` when set, else the served bundle's ``shadow/``
    folder when it holds one; None: no shadow."""
    if shadow_dir is not None:
        return shadow_dir
    inside = Path(model_dir) / SHADOW_DIR
    return inside if inside.is_dir() else None


def _columns(meta: BundleMeta) -> list[tuple[str, str]]:
    return [(feature.name, feature.kind) for feature in meta.features]


def load_shadow(
    directory: Path | None, production: BundleMeta, schema: RequestSchema, fast_path: bool
) -> ShadowModel | None:
    """The shadow bundle in ``directory``, ready to score rows parsed by production's ``schema``;
    None when there is none or it cannot serve (logged: the server serves production alone)."""
    if directory is None:
        return None
    try:
        meta = read_bundle_meta(directory)
        if meta.task != production.task or _columns(meta) != _columns(production):
            raise ValueError(
                f"it must have production's task and feature columns (names and kinds, in order) "
                f"to score the same parsed rows; it has task {meta.task} and "
                f"{len(meta.features)} columns against {production.task} and {len(production.features)}"
            )
        bundle = load_bundle(directory)
        own_schema = RequestSchema(meta.features, max_rows=schema.max_rows)
        scorer = choose_scorer(
            bundle.pipeline,
            own_schema,
            meta.target_spec,
            meta.threshold or 0.5,
            read_reference_request(directory),
            enabled=fast_path,
        )
    except Exception as exc:  # a shadow never stops production from serving
        logger.error("Not scoring a shadow: the bundle in %s cannot serve: %s", directory, exc)
        return None
    logger.info(
        "Shadow: version %s of %s from %s, scores every logged row (%s path%s), never answers",
        meta.model_version,
        meta.model_name,
        directory,
        scorer.path,
        "" if scorer.path == "compiled" else f": {scorer.reason}",
    )
    return ShadowModel(meta, scorer, schema)
