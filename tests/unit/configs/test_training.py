"""The default configuration's models serve probabilities that mean what they say.

Each algorithm of configs/training.yaml (at the first point of its grid) is fitted on the bundled
data's train split, as training fits it, and its mean predicted probability on the holdout must be
within 0.02 of the holdout's churn rate. Class weights would fail this (they inflate every
probability towards the minority class); imbalance is handled by the decision threshold instead.
"""

import pandas as pd
import pytest
import yaml

from tabular_ml.configuration.schema import TrainingParameters
from tabular_ml.data.cleaning import clean_frame
from tabular_ml.data.splitting import split_frame
from tabular_ml.modelling.model import build_model, make_estimator
from tabular_ml.tasks.target import resolve_target
from tests.support.paths import PROJECT_ROOT

CONFIG = yaml.safe_load((PROJECT_ROOT / "configs/training.yaml").read_text())
PARAMS = TrainingParameters.model_validate(CONFIG["parameters"])


@pytest.fixture(scope="module")
def split():
    raw = pd.read_csv(PROJECT_ROOT / PARAMS.source.path)
    cleaned, _ = clean_frame(raw, PARAMS.cleaning, PARAMS.contract)
    target = resolve_target(cleaned["churn"], "churn", PARAMS.task, PARAMS.contract.classes, "Yes")
    train, test = split_frame(cleaned, PARAMS.contract, PARAMS.split)
    return target, train, test


@pytest.mark.parametrize("spec", PARAMS.search.algorithms, ids=lambda spec: spec.name)
def test_mean_probability_matches_the_churn_rate(split, spec):
    target, train, test = split
    first_point = {name: values[0] for name, values in spec.search_space.items()}
    estimator = make_estimator(spec.model_copy(update={"params": {**spec.params, **first_point}}), 42)
    model = build_model(PARAMS.contract, PARAMS.preprocessing, PARAMS.features, estimator)
    model.fit(train[PARAMS.contract.feature_names], target.encode(train["churn"]))
    proba = model.predict_proba(test[PARAMS.contract.feature_names])[:, 1]
    churn_rate = target.encode(test["churn"]).mean()
    assert abs(proba.mean() - churn_rate) < 0.02, (proba.mean(), churn_rate)
    # and a confident band is right about as often as it says
    band = (proba >= 0.6) & (proba < 0.8)
    assert band.sum() > 30 and 0.55 < target.encode(test["churn"])[band].mean() < 0.85
