"""The model bundle: the directory a serving process loads (no ZenML, no Seldon here).

A bundle is a directory holding

- ``model.joblib``: the fitted scikit-learn ``Pipeline`` (raw feature columns in,
  preprocessing and estimator inside), saved with joblib;
- ``bundle.json``: what a server needs to know without reading configs: model
  name and version, the feature columns in order with their kind and allowed
  categories, the task, the target, its classes in the model's order, for a binary
  model the positive class and the decision threshold, the creation time and the
  scikit-learn version that saved it;
- ``reference_rows.json`` (optional): rows the server checks its fast path on
  (:mod:`serving.reference_rows`);
- ``shadow/`` (optional): a challenger's bundle, scored on every request beside this one and
  never answered (:mod:`serving.shadow`); a bundle with one is written by the deployment as a
  folder of its own (``<version>+shadow-<version>``), so a version's own bundle never changes.

``save_bundle`` writes both files (each through a temporary file and a rename,
so a reader never sees half a bundle); ``load_bundle`` reads them back and
raises :class:`BundleError` with a one-line message when the bundle is missing
or corrupt, or was written in another format version (a bundle of an earlier
version of this project is not migrated: its model is retrained).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import joblib
import sklearn
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from serving.reference_rows import REFERENCE_FILE, reference_request
from tabular_ml.configuration.schema import DataContract
from tabular_ml.data.atomic_files import fsync_file, replace_durably
from tabular_ml.tasks.target import TargetSpec, Task, binary_target

__all__ = [
    "BUNDLE_FORMAT_VERSION",
    "META_FILE",
    "MODEL_FILE",
    "SHADOW_DIR",
    "Bundle",
    "BundleError",
    "BundleMeta",
    "FeatureColumn",
    "load_bundle",
    "read_bundle_meta",
    "save_bundle",
]

logger = logging.getLogger(__name__)

MODEL_FILE = "model.joblib"
META_FILE = "bundle.json"
SHADOW_DIR = "shadow"
# 2: every bundle records its task, and a binary one lists its classes [negative, positive];
# a version 1 bundle written before task types did neither.
BUNDLE_FORMAT_VERSION = 2


class BundleError(Exception):
    """A model bundle is missing, incomplete or corrupt (the message says which and where)."""


class FeatureColumn(BaseModel):
    """One raw input column of the served Pipeline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: Literal["numeric", "categorical", "binary"]
    categories: list[str] | None = None
    min: float | None = None  # the contract's range: a served value outside it breaks the contract
    max: float | None = None


class BundleMeta(BaseModel):
    """The content of ``bundle.json``.

    ``classes`` are in the model's order (``predict_proba``'s columns); a binary model's are
    ``[negative, positive]``. A regression model has no classes, positive class or threshold.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    format_version: int = BUNDLE_FORMAT_VERSION
    model_name: str = Field(min_length=1)
    model_version: str = Field(min_length=1)
    features: list[FeatureColumn] = Field(min_length=1)
    task: Task
    target: str
    classes: list[str] = Field(default_factory=list)
    positive_class: str | None = None
    threshold: float | None = Field(None, gt=0, lt=1)
    created_at: str
    sklearn_version: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> BundleMeta:
        if self.task == "binary":
            if len(self.classes) != 2 or self.positive_class != self.classes[1] or self.threshold is None:
                raise ValueError(
                    "a binary bundle needs 2 classes, the second the positive_class, and a threshold"
                )
        elif self.task == "multiclass" and len(self.classes) < 3:
            raise ValueError(f"a multiclass bundle needs 3 or more classes, not {self.classes}")
        elif self.task == "regression" and self.classes:
            raise ValueError("a regression bundle has no classes")
        names = [feature.name for feature in self.features]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"feature column(s) {repeated} are listed more than once")
        return self

    @property
    def feature_names(self) -> list[str]:
        """The raw input columns, in the order the Pipeline was trained with."""
        return [feature.name for feature in self.features]

    @property
    def negative_label(self) -> str:
        """A binary model's label below the threshold: the class that is not the positive one."""
        return next(label for label in self.classes if label != self.positive_class)

    @cached_property  # read on every request's answer
    def target_spec(self) -> TargetSpec:
        """The target as training resolved it (classes in the model's order)."""
        return TargetSpec(column=self.target, task=self.task, classes=list(self.classes))


@dataclass(frozen=True)
class Bundle:
    """A loaded bundle: the fitted Pipeline, its metadata and where it came from."""

    pipeline: Any
    meta: BundleMeta
    directory: Path

    @property
    def positive_column(self) -> int:
        """Index of the positive class (encoded 1) in ``pipeline.predict_proba``'s columns."""
        _check_encoded_classes(self.pipeline, self.meta.target_spec, f"the model in {self.directory}")
        return 1


def _check_encoded_classes(pipeline: Any, target: TargetSpec, where: Path | str) -> None:
    """A classifier must have been trained on the encoded target: classes 0 .. k-1."""
    if target.task == "regression":
        if not hasattr(pipeline, "predict"):
            raise BundleError(f"{where} has no predict: it cannot be served")
        return
    if not hasattr(pipeline, "predict_proba") or not hasattr(pipeline, "classes_"):
        raise BundleError(f"{where} is not a fitted classifier (no predict_proba or classes_)")
    classes = [c.item() if hasattr(c, "item") else c for c in pipeline.classes_]
    if classes != list(range(len(target.classes))):
        raise BundleError(
            f"{where} was not trained on the encoded target: its classes are {classes}, expected "
            f"{list(range(len(target.classes)))} for {target.classes} "
            "(see tabular_ml.tasks.target.TargetSpec.encode)"
        )


def _unseen_columns(pipeline: Any, columns: list[str]) -> list[str]:
    """Columns the bundle lists but the Pipeline did not see when it was fitted."""
    seen = getattr(pipeline, "feature_names_in_", None)
    if seen is None:
        return []
    seen_set = {str(name) for name in seen}
    return [name for name in columns if name not in seen_set]


def _atomic_write(path: Path, write: Any) -> None:
    """Write ``path`` through a temporary file in the same directory, an fsync and a durable rename."""
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    try:
        write(tmp)
        fsync_file(tmp)
        replace_durably(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_bundle(
    directory: str | Path,
    pipeline: Any,
    contract: DataContract,
    model_name: str,
    model_version: str,
    threshold: float = 0.5,
    target: TargetSpec | None = None,
    reference_rows: Any = None,
) -> Path:
    """Write ``model.joblib`` and ``bundle.json`` into ``directory`` (created if needed).

    Args:
        directory: The bundle directory; existing bundle files in it are replaced.
        pipeline: The fitted Pipeline (raw feature columns in, probabilities or values out),
            trained on the target as ``target`` encodes it (binary: 1 = positive class).
        contract: The data contract it was trained under: feature columns, kinds and
            categories come from it.
        model_name: Name reported in every response.
        model_version: Version reported in every response (stored as text).
        threshold: A binary model's probability of the positive class from which a row is
            labelled positive (ignored for other tasks).
        target: The resolved target (task, classes in the model's order); default: a binary
            target of the contract's classes and positive class.
        reference_rows: A DataFrame with the contract's feature columns (e.g. the holdout
            rows): its first 500 are kept for the server's fast-path check.

    Returns:
        The bundle directory.

    Raises:
        ValueError: When the pipeline is not fitted or does not fit the target (a
            classifier without ``predict_proba`` or trained on other classes), or the
            threshold is not strictly between 0 and 1.
    """
    if target is None:
        target = _contract_target(contract)
    try:
        _check_encoded_classes(pipeline, target, f"the {type(pipeline).__name__}")
    except BundleError as exc:
        raise ValueError(str(exc)) from exc
    folder = Path(directory)
    unseen = _unseen_columns(pipeline, contract.feature_names)
    if unseen:
        raise ValueError(f"the pipeline was not fitted on contract column(s) {unseen}")
    try:
        meta = BundleMeta(
            model_name=model_name,
            model_version=str(model_version),
            features=[
                FeatureColumn(
                    name=name,
                    kind=spec.kind,
                    categories=list(spec.categories) if spec.categories is not None else None,
                    min=spec.min,
                    max=spec.max,
                )
                for name, spec in contract.columns.items()
            ],
            task=target.task,
            target=contract.target,
            classes=list(target.classes),
            positive_class=target.positive_class,
            threshold=threshold if target.task == "binary" else None,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            sklearn_version=sklearn.__version__,
        )
    except ValidationError as exc:
        raise ValueError(f"invalid bundle metadata: {_first_error(exc)}") from exc

    folder.mkdir(parents=True, exist_ok=True)
    _atomic_write(folder / MODEL_FILE, lambda tmp: joblib.dump(pipeline, tmp))
    if reference_rows is not None:
        reference = json.dumps(reference_request(reference_rows, contract.feature_names))
        _atomic_write(folder / REFERENCE_FILE, lambda tmp: Path(tmp).write_text(reference, encoding="utf-8"))
    text = json.dumps(meta.model_dump(mode="json"), indent=2) + "\n"
    _atomic_write(folder / META_FILE, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    logger.info("Saved model bundle %s version %s to %s", model_name, meta.model_version, folder)
    return folder


def _contract_target(contract: DataContract) -> TargetSpec:
    """The binary target of a contract that names its classes and positive class."""
    if contract.classes is None or contract.positive_class is None:
        raise ValueError(
            "give the resolved target: the contract does not name its classes and positive class"
        )
    return binary_target(contract.target, contract.classes, contract.positive_class)


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "bundle"
    more = exc.error_count() - 1
    return f"{where}: {error['msg']}" + (f" (and {more} more)" if more else "")


def read_bundle_meta(directory: str | Path) -> BundleMeta:
    """Only ``bundle.json`` of a bundle (cheap: the model is not loaded).

    Raises:
        BundleError: When the directory or the file is missing, the file is not valid
            bundle metadata, or it has another format version (one that says to retrain).
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise BundleError(f"model bundle directory {folder} does not exist")
    path = folder / META_FILE
    if not path.is_file():
        raise BundleError(f"model bundle {folder} has no {META_FILE}")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise BundleError(f"{path} must hold a JSON object, not {type(raw).__name__}")
    found = raw.get("format_version")
    if found != BUNDLE_FORMAT_VERSION:
        raise BundleError(
            f"{path} has format_version {found!r}; this code reads version {BUNDLE_FORMAT_VERSION}: "
            "retrain the model and deploy it again (bundles are not migrated)"
        )
    try:
        return BundleMeta.model_validate(raw)
    except ValidationError as exc:
        raise BundleError(f"{path} is not valid bundle metadata: {_first_error(exc)}") from exc


def load_bundle(directory: str | Path) -> Bundle:
    """Load a bundle written by :func:`save_bundle`.

    Raises:
        BundleError: With a one-line message when the directory, ``bundle.json`` or
            ``model.joblib`` is missing or cannot be read, or the model does not fit
            the metadata.
    """
    folder = Path(directory)
    meta = read_bundle_meta(folder)
    path = folder / MODEL_FILE
    if not path.is_file():
        raise BundleError(f"model bundle {folder} has no {MODEL_FILE}")
    try:
        pipeline = joblib.load(path)
    except Exception as exc:  # joblib/pickle raise many types for a damaged file
        raise BundleError(f"{path} cannot be loaded: {type(exc).__name__}: {exc}") from exc
    _check_encoded_classes(pipeline, meta.target_spec, path)
    unseen = _unseen_columns(pipeline, meta.feature_names)
    if unseen:
        raise BundleError(f"{path} was not fitted on column(s) {unseen} that {META_FILE} lists")
    if meta.sklearn_version and meta.sklearn_version != sklearn.__version__:
        logger.warning(
            "Model bundle %s was saved with scikit-learn %s, this process has %s",
            folder,
            meta.sklearn_version,
            sklearn.__version__,
        )
    return Bundle(pipeline=pipeline, meta=meta, directory=folder)
