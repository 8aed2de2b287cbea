"""The deployers' bundle with a shadow (adapters/model_deployers.py): production's files, the
challenger's in shadow/, both source bundles unchanged, made once."""

from __future__ import annotations

import pandas as pd

from adapters.model_deployers import shadowed_bundle
from serving.bundle import SHADOW_DIR, read_bundle_meta
from tests.support.serving_model import TELCO_CSV, fit_pipeline, save_test_bundle, training_params


def test_the_shadowed_bundle_holds_production_with_the_challenger_in_shadow(tmp_path):
    params = training_params()
    data = pd.read_csv(TELCO_CSV).head(300)
    production = save_test_bundle(tmp_path / "churn" / "3", fit_pipeline(params, data), params, "3")
    challenger = save_test_bundle(tmp_path / "churn" / "4", fit_pipeline(params, data), params, "4")
    before = sorted(path.name for path in production.iterdir())

    uri = shadowed_bundle(str(production), str(challenger), "4")
    assert uri == f"{production}+shadow-4"
    assert read_bundle_meta(uri).model_version == "3"
    assert read_bundle_meta(f"{uri}/{SHADOW_DIR}").model_version == "4"
    assert sorted(path.name for path in production.iterdir()) == before  # the version's own bundle
    made = (tmp_path / "churn" / "3+shadow-4" / "model.joblib").stat().st_mtime_ns
    assert shadowed_bundle(str(production), str(challenger), "4") == uri
    assert (tmp_path / "churn" / "3+shadow-4" / "model.joblib").stat().st_mtime_ns == made  # made once
