"""A challenger scored in shadow: on every answered request's rows, never in the answer.

The server loads the shadow bundle beside production's (``SERVING_SHADOW_DIR``, or the
``shadow/`` folder of the served bundle, :data:`serving.bundle.SHADOW_DIR`). Each request's
rows, already parsed by production's request schema, are scored by the shadow's own scorer
(the compiled path when it agrees with its Pipeline) in the request, right after production's
scores: no second parse, no copy, no thread. Why in the request rather than after the answer
or on a background queue: a compiled single row costs tens of microseconds, less than a
thread hand-off, and a Python thread scoring beside the event loop would hold the GIL in
turns with it (bench/results/shadow.md measures what the shadow adds to production's p99).

A shadow never fails an answer: a shadow that cannot be loaded is logged and left out; a
shadow whose scores raise on a request logs that request's rows without shadow columns and
counts the failure (:attr:`ShadowModel.failures`).
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

# A shadow failing on every request would fill the server's log: one line per this many failures.
_FAILURES_PER_LOG_LINE = 1000


@dataclass(frozen=True)
class ShadowOutput:
    """The shadow's predictions of one request's rows: labels as text and the score per row."""

    labels: list[str]
    score: np.ndarray
    model_version: str


class ShadowModel:
    """The challenger's bundle and scorer, fed production's parsed rows."""

    def __init__(self, meta: BundleMeta, scorer: Scorer) -> None:
        self.meta = meta
        self.scorer = scorer
        self.failures = 0

    def predict(self, parsed: ParsedRequest) -> ShadowOutput | None:
        """The shadow's output for ``parsed``; None (and counted) when it fails."""
        try:
            result = answer(self.meta, self.scorer.scores(parsed))
            return ShadowOutput(
                [str(label) for label in result.labels], result.score, self.meta.model_version
            )
        except Exception as exc:  # whatever the shadow does, production's answer stands
            self.failures += 1
            if self.failures % _FAILURES_PER_LOG_LINE == 1:
                logger.warning(
                    "Shadow version %s failed on a request (%d failures so far): %s: %s",
                    self.meta.model_version,
                    self.failures,
                    type(exc).__name__,
                    exc,
                )
            return None


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
        "Shadow: version %s of %s from %s, scored on every request (%s path%s), never answered",
        meta.model_version,
        meta.model_name,
        directory,
        scorer.path,
        "" if scorer.path == "compiled" else f": {scorer.reason}",
    )
    return ShadowModel(meta, scorer)
