"""The model bundle: save/load round trip and one-line errors for broken bundles."""

from __future__ import annotations

import json
from datetime import datetime

import joblib
import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression

from serving.bundle import (
    META_FILE,
    MODEL_FILE,
    BundleError,
    load_bundle,
    read_bundle_meta,
    save_bundle,
)
from serving.reference_rows import MAX_REFERENCE_ROWS, read_reference_request
from tabular_ml.configuration.schema import (
    ColumnSpec,
    DataContract,
    PreprocessingConfig,
)
from tabular_ml.modelling.model import build_model, encode_target
from tabular_ml.tasks.target import TargetSpec
from tests.support.factories import TINY_FEATURES, tiny_contract, tiny_frame

FEATURES = TINY_FEATURES


@pytest.fixture(scope="module")
def contract() -> DataContract:
    return tiny_contract()


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    data = tiny_frame(60)
    data.loc[3, "total"] = np.nan
    return data


@pytest.fixture(scope="module")
def pipeline(contract, frame):
    model = build_model(contract, PreprocessingConfig(), FEATURES, LogisticRegression(max_iter=500))
    return model.fit(frame[contract.feature_names], encode_target(frame["churn"], contract))


@pytest.fixture
def bundle_dir(tmp_path, pipeline, contract):
    return save_bundle(tmp_path / "bundle", pipeline, contract, "churn_classifier", "12", threshold=0.4)


def test_round_trip_predicts_the_same(bundle_dir, pipeline, contract, frame):
    bundle = load_bundle(bundle_dir)
    X = frame[contract.feature_names]
    np.testing.assert_array_equal(bundle.pipeline.predict_proba(X), pipeline.predict_proba(X))
    assert bundle.directory == bundle_dir
    assert bundle.positive_column == list(pipeline.classes_).index(1)


def test_metadata_describes_the_model(bundle_dir, contract):
    assert sorted(p.name for p in bundle_dir.iterdir()) == [META_FILE, MODEL_FILE]  # no temp files left
    meta = load_bundle(bundle_dir).meta
    assert (meta.model_name, meta.model_version) == ("churn_classifier", "12")
    assert meta.feature_names == contract.feature_names
    assert [(f.name, f.kind) for f in meta.features][:3] == [
        ("tenure", "numeric"),
        ("total", "numeric"),
        ("senior", "binary"),
    ]
    contract_feature = next(f for f in meta.features if f.name == "contract")
    assert contract_feature.categories == ["Month-to-month", "One year", "Two year"]
    assert next(f for f in meta.features if f.name == "backup").categories is None
    assert (meta.target, meta.classes, meta.positive_class) == ("churn", ["No", "Yes"], "Yes")
    assert meta.negative_label == "No"
    assert meta.threshold == 0.4
    assert datetime.fromisoformat(meta.created_at).tzinfo is not None
    assert meta.sklearn_version == sklearn.__version__
    raw = json.loads((bundle_dir / META_FILE).read_text())
    assert raw["model_version"] == "12" and raw["features"][0] == {
        "name": "tenure",
        "kind": "numeric",
        "categories": None,
        "min": None,
        "max": None,
    }
    assert read_bundle_meta(bundle_dir) == meta


def test_metadata_keeps_the_contract_ranges(tmp_path, pipeline, contract):
    columns = dict(contract.columns)
    columns["tenure"] = columns["tenure"].model_copy(update={"min": 0.0, "max": 120.0})
    bounded = contract.model_copy(update={"columns": columns})
    meta = load_bundle(save_bundle(tmp_path / "b", pipeline, bounded, "m", "1")).meta
    tenure = next(f for f in meta.features if f.name == "tenure")
    assert (tenure.min, tenure.max) == (0.0, 120.0)


def test_version_is_stored_as_text_and_saving_again_replaces_the_bundle(tmp_path, pipeline, contract):
    target = tmp_path / "b"
    save_bundle(target, pipeline, contract, "m", 3)
    assert load_bundle(target).meta.model_version == "3"
    save_bundle(target, pipeline, contract, "m", "4")
    assert load_bundle(target).meta.model_version == "4"
    assert sorted(p.name for p in target.iterdir()) == [META_FILE, MODEL_FILE]


def test_a_binary_bundle_keeps_classes_in_the_models_order(tmp_path, pipeline, contract):
    # the contract lists the positive class first: the bundle stores [negative, positive]
    reordered = contract.model_copy(update={"classes": ["Yes", "No"]})
    meta = load_bundle(save_bundle(tmp_path / "b", pipeline, reordered, "m", "1")).meta
    assert (meta.task, meta.classes, meta.positive_class, meta.negative_label) == (
        "binary",
        ["No", "Yes"],
        "Yes",
        "No",
    )


def test_a_binary_pipeline_cannot_be_saved_as_a_three_class_model(tmp_path, pipeline, contract):
    three = TargetSpec(column="churn", task="multiclass", classes=["No", "Yes", "Maybe"])
    with pytest.raises(ValueError, match=r"its classes are \[0, 1\], expected \[0, 1, 2\]"):
        save_bundle(tmp_path / "b", pipeline, contract, "m", "1", target=three)


# ---------------------------------------------------------------------- save errors


def test_save_refuses_what_cannot_be_served(tmp_path, pipeline, contract, frame):
    unfitted = build_model(contract, PreprocessingConfig(), FEATURES, LogisticRegression())
    with pytest.raises(ValueError, match="is not a fitted classifier"):
        save_bundle(tmp_path / "a", unfitted, contract, "m", "1")
    with pytest.raises(ValueError, match="threshold"):
        save_bundle(tmp_path / "b", pipeline, contract, "m", "1", threshold=1.5)
    text_labels = build_model(contract, PreprocessingConfig(), FEATURES, LogisticRegression(max_iter=500))
    text_labels.fit(frame[contract.feature_names], frame["churn"])
    with pytest.raises(ValueError, match="not trained on the encoded target"):
        save_bundle(tmp_path / "c", text_labels, contract, "m", "1")
    wider = contract.model_copy(update={"columns": {**contract.columns, "extra": ColumnSpec(kind="numeric")}})
    with pytest.raises(ValueError, match=r"not fitted on contract column\(s\) \['extra'\]"):
        save_bundle(tmp_path / "d", pipeline, wider, "m", "1")
    assert not (tmp_path / "a").exists() and not (tmp_path / "d").exists()


# ---------------------------------------------------------------------- load errors


def load_error(directory) -> str:
    with pytest.raises(BundleError) as info:
        load_bundle(directory)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_directory(tmp_path):
    assert load_error(tmp_path / "nowhere") == f"model bundle directory {tmp_path / 'nowhere'} does not exist"


def test_missing_files(bundle_dir):
    (bundle_dir / MODEL_FILE).unlink()
    assert load_error(bundle_dir) == f"model bundle {bundle_dir} has no {MODEL_FILE}"
    read_bundle_meta(bundle_dir)  # the metadata alone is still readable
    (bundle_dir / META_FILE).unlink()
    assert load_error(bundle_dir) == f"model bundle {bundle_dir} has no {META_FILE}"


def test_corrupt_metadata(bundle_dir):
    path = bundle_dir / META_FILE
    good = json.loads(path.read_text())
    path.write_text("{not json")
    assert load_error(bundle_dir).startswith(f"{path} is not valid JSON: ")
    path.write_text("[]")
    assert load_error(bundle_dir) == f"{path} must hold a JSON object, not list"
    path.write_text(json.dumps({k: v for k, v in good.items() if k != "model_version"}))
    assert load_error(bundle_dir) == f"{path} is not valid bundle metadata: model_version: Field required"
    path.write_text(json.dumps({**good, "positive_class": "Maybe"}))
    assert "a binary bundle needs 2 classes, the second the positive_class" in load_error(bundle_dir)
    path.write_text(json.dumps({**good, "classes": ["Yes", "No"]}))
    assert "a binary bundle needs 2 classes, the second the positive_class" in load_error(bundle_dir)
    path.write_text(json.dumps({**good, "format_version": 9}))
    assert load_error(bundle_dir) == (
        f"{path} has format_version 9; this code reads version 2: "
        "retrain the model and deploy it again (bundles are not migrated)"
    )


def test_a_bundle_of_an_earlier_version_says_to_retrain(bundle_dir):
    # bundle.json as it was written before task types: format 1, no task, positive class first
    path = bundle_dir / META_FILE
    good = json.loads(path.read_text())
    del good["task"]
    path.write_text(json.dumps({**good, "format_version": 1, "classes": ["Yes", "No"]}))
    retrain = "retrain the model and deploy it again (bundles are not migrated)"
    assert load_error(bundle_dir) == f"{path} has format_version 1; this code reads version 2: {retrain}"
    del good["format_version"]
    path.write_text(json.dumps(good))
    assert load_error(bundle_dir) == f"{path} has format_version None; this code reads version 2: {retrain}"


def test_corrupt_model_file(bundle_dir):
    path = bundle_dir / MODEL_FILE
    path.write_bytes(b"definitely not a pickle")
    assert load_error(bundle_dir).startswith(f"{path} cannot be loaded: ")
    joblib.dump({"not": "a model"}, path)
    assert load_error(bundle_dir) == f"{path} is not a fitted classifier (no predict_proba or classes_)"


def test_model_and_metadata_must_agree(bundle_dir):
    path = bundle_dir / META_FILE
    meta = json.loads(path.read_text())
    meta["features"].append({"name": "colour", "kind": "categorical", "categories": None})
    path.write_text(json.dumps(meta))
    model = bundle_dir / MODEL_FILE
    assert load_error(bundle_dir) == f"{model} was not fitted on column(s) ['colour'] that {META_FILE} lists"


def test_reference_rows_are_kept_as_a_request_body(tmp_path, pipeline, contract, frame):
    save_bundle(tmp_path / "b", pipeline, contract, "m", "1", reference_rows=frame)
    request = read_reference_request(tmp_path / "b")
    assert request["data"]["names"] == contract.feature_names
    rows = request["data"]["ndarray"]
    assert len(rows) == len(frame) == 60 and rows[3][contract.feature_names.index("total")] is None
    assert rows[0] == frame[contract.feature_names].iloc[0].tolist()
    assert read_reference_request(tmp_path / "nothing") is None
    many = pd.concat([frame] * 10, ignore_index=True)
    save_bundle(tmp_path / "c", pipeline, contract, "m", "1", reference_rows=many)
    assert len(read_reference_request(tmp_path / "c")["data"]["ndarray"]) == MAX_REFERENCE_ROWS == 500
