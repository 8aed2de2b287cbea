"""ZenML materializer for ``EvaluationReport``: JSON data, an HTML visualization, key metadata.

Stored under the artifact URI:

* ``report.json`` - the report as JSON (``EvaluationReport.model_dump_json``), never pickle;
  one saved by an earlier version of this project, before task types, does not load (a
  one-line error says to retrain the model: reports are not migrated);
* ``report.html`` - the self-contained page of ``render_report_html``, shown by the
  ZenML dashboard as the artifact's visualization.

All file access goes through ``self.artifact_store`` so it works on any artifact
store (local, S3, GCS, ...). Importing this module needs no ZenML store or client:
the artifact store is only looked up (from the active stack) when a method that
touches files runs without one being passed to the constructor.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, ClassVar

from pydantic import ValidationError
from zenml.enums import ArtifactType, VisualizationType
from zenml.materializers.base_materializer import BaseMaterializer
from zenml.metadata.metadata_types import MetadataType

from tabular_ml.modelling.evaluation import EvaluationReport
from tabular_ml.reporting.html_page import render_report_html

REPORT_FILENAME = "report.json"
HTML_FILENAME = "report.html"


class EvaluationReportMaterializer(BaseMaterializer):
    """Saves an ``EvaluationReport`` as JSON, with an HTML visualization and its key numbers as metadata."""

    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (EvaluationReport,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA_ANALYSIS

    @property
    def _json_path(self) -> str:
        return os.path.join(self.uri, REPORT_FILENAME)

    def load(self, data_type: type[Any]) -> EvaluationReport:
        """Read ``report.json`` back into an ``EvaluationReport`` (or the requested subclass).

        Raises:
            ValueError: In one line, for a report saved before task types (it names no task).
        """
        model = data_type if isinstance(data_type, type) and issubclass(data_type, EvaluationReport) else None
        with self.artifact_store.open(self._json_path, "r") as f:
            text = f.read()
        try:
            return (model or EvaluationReport).model_validate_json(text)
        except ValidationError as exc:
            if any(error["type"] == "missing" and error["loc"] == ("task",) for error in exc.errors()):
                raise ValueError(
                    f"{self._json_path} names no task: it was saved by an earlier version of this "
                    "project; retrain the model (reports are not migrated)"
                ) from None
            raise

    def save(self, data: EvaluationReport) -> None:
        """Write the report as ``report.json``."""
        with self.artifact_store.open(self._json_path, "w") as f:
            f.write(data.model_dump_json(indent=2))

    def save_visualizations(self, data: EvaluationReport) -> dict[str, VisualizationType]:
        """Write ``report.html`` and register it as an HTML visualization."""
        html_path = os.path.join(self.uri, HTML_FILENAME)
        with self.artifact_store.open(html_path, "w") as f:
            f.write(render_report_html(data))
        # ZenML stores visualization URIs with forward slashes (as its own materializers do).
        return {html_path.replace("\\", "/"): VisualizationType.HTML}

    def extract_metadata(self, data: EvaluationReport) -> dict[str, MetadataType]:
        """The holdout metrics (one float each), the baseline's as ``baseline_<metric>``, and
        what identifies the evaluation: the task, and for classification its classes."""
        metadata: dict[str, MetadataType] = {name: float(value) for name, value in data.metrics.items()}
        metadata.update({f"baseline_{name}": float(value) for name, value in data.baseline_metrics.items()})
        metadata.update(
            {
                "task": data.task,
                "n_samples": int(data.n_samples),
                "algorithm": data.algorithm,
                "model_name": data.model_name,
            }
        )
        if data.task == "binary":
            metadata.update({"threshold": float(data.threshold), "positive_class": data.positive_class})
        if data.class_names:
            metadata["class_names"] = list(data.class_names)
        return metadata

    def compute_content_hash(self, data: EvaluationReport) -> str | None:
        """A hash of the report's JSON, as ZenML's own pydantic materializer computes one."""
        hash_ = hashlib.md5(usedforsecurity=False)
        hash_.update(self.__class__.__name__.encode())
        hash_.update(data.model_dump_json().encode())
        return hash_.hexdigest()
