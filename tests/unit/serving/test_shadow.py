"""A challenger in shadow (serving/shadow.py): scores the logged rows in the log's writer, never answers."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn.tree import DecisionTreeClassifier

from serving.bundle import SHADOW_DIR
from serving.request_log import read_request_log
from serving.scoring import Scorer
from serving.shadow import ShadowModel
from tests.support.serving_model import (
    TELCO_CSV,
    fit_pipeline,
    ndarray_request,
    save_test_bundle,
    served_model,
    training_params,
)


@pytest.fixture(scope="module")
def telco():
    params = training_params()
    data = pd.read_csv(TELCO_CSV).head(800)
    rows = data[params.contract.feature_names].iloc[:40]
    return params, data, rows


@pytest.fixture(scope="module")
def bundles(tmp_path_factory, telco):
    """Production (logistic regression, version 3) with a shadow (a depth-4 tree, version 4) inside,
    and the shadow's own bundle."""
    params, data, _ = telco
    folder = tmp_path_factory.mktemp("shadowed")
    production = save_test_bundle(
        folder / "3+shadow-4", fit_pipeline(params, data), params, "3", threshold=0.4
    )
    tree = fit_pipeline(params, data, DecisionTreeClassifier(max_depth=4, random_state=0))
    challenger = save_test_bundle(folder / "4", tree, params, "4", threshold=0.3)
    shutil.copytree(challenger, production / SHADOW_DIR)
    return production, challenger


def test_the_answer_is_productions_and_the_log_holds_both(bundles, telco, tmp_path):
    production, challenger = bundles
    _, _, rows = telco
    alone = served_model(production)  # no request log: the shadow is not loaded
    assert alone.shadow is None
    expected = alone.predict(ndarray_request(rows)).answer
    shadow_alone = served_model(challenger).predict(ndarray_request(rows)).answer

    served = served_model(production, request_log_dir=tmp_path / "log")
    assert served.shadow is not None and served.shadow.scorer.path == "compiled"
    got = served.predict(ndarray_request(rows), request_id="r-1")
    assert got.answer.rows == expected.rows
    served.close()

    log = read_request_log(tmp_path / "log")
    assert log["prediction"].tolist() == [str(label) for label in expected.labels]
    assert log["shadow_prediction"].tolist() == [str(label) for label in shadow_alone.labels]
    np.testing.assert_allclose(log["shadow_probability"], shadow_alone.score, atol=1e-12)
    assert set(log["shadow_model_version"]) == {"4"} and set(log["model_version"]) == {"3"}
    assert (log["shadow_prediction"] != log["prediction"]).any()  # two different models


def test_a_shadow_with_other_columns_is_not_loaded_and_production_serves(bundles, telco, tmp_path):
    params, data, rows = telco
    production, _ = bundles
    narrower = params.contract.model_copy(
        update={"columns": dict(list(params.contract.columns.items())[:-1])}
    )
    other = params.model_copy(update={"contract": narrower, "features": []})
    save_test_bundle(tmp_path / "other", fit_pipeline(other, data), other, "9")
    served = served_model(production, shadow_dir=tmp_path / "other", request_log_dir=tmp_path / "log")
    assert served.shadow is None
    served.predict(ndarray_request(rows))
    served.close()
    assert read_request_log(tmp_path / "log")["shadow_prediction"].isna().all()


def test_a_failing_shadow_never_fails_the_answer_nor_the_log(bundles, telco, tmp_path):
    production, _ = bundles
    _, _, rows = telco
    served = served_model(production, request_log_dir=tmp_path / "log")
    shadow = served.shadow

    def broken(parsed):
        raise RuntimeError("the challenger broke")

    served.request_log.shadow = ShadowModel(
        shadow.meta, Scorer(None, shadow.meta.target_spec, compiled=broken), shadow.schema
    ).score_rows
    answered = served.predict(ndarray_request(rows.head(2)))
    served.close()
    assert len(answered.answer.rows) == 2 and served.request_log.shadow_failed_rows == 2
    log = read_request_log(tmp_path / "log")
    assert len(log) == 2 and log["shadow_model_version"].isna().all() and log["prediction"].notna().all()
