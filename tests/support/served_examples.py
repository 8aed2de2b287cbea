"""A small bundle's metadata and predictions, for the tests of the wire protocols without HTTP."""

from __future__ import annotations

import numpy as np

from serving.answers import Answer
from serving.bundle import BundleMeta, FeatureColumn
from serving.served_model import Prediction

NAMES = ["tenure", "contract"]


def meta(task: str = "binary") -> BundleMeta:
    classes = {"binary": ["No", "Yes"], "multiclass": ["a", "b", "c"], "regression": []}[task]
    return BundleMeta(
        model_name="m",
        model_version="4",
        features=[
            FeatureColumn(name="tenure", kind="numeric"),
            FeatureColumn(name="contract", kind="categorical"),
        ],
        task=task,
        target="y",
        classes=classes,
        positive_class="Yes" if task == "binary" else None,
        threshold=0.4 if task == "binary" else None,
        created_at="2026-12-05T00:00:00+00:00",
    )


def prediction(rows: list[list], request_id: str = "r1") -> Prediction:
    answer = Answer(rows=rows, labels=[row[0] for row in rows], score=np.zeros(len(rows)))
    return Prediction(answer=answer, parsed=type("Parsed", (), {"violations": ()})(), request_id=request_id)
