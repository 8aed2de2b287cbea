"""A config drafted from the bundled Telco data trains as well as the hand-written one.

Both configs keep their own contract, cleaning, split, features and preprocessing; their
searches are cut to the logistic regression each proposes, at one C, so the test takes
seconds. (The whole searches: `make bench-draft`, bench/results/drafted_config.md.)
"""

import pytest
from sklearn.metrics import roc_auc_score

from bench.drafted_config import drafted_parameters, handwritten_parameters
from tabular_ml.data.cleaning import clean_frame
from tabular_ml.data.sources import load_data
from tabular_ml.data.splitting import split_frame
from tabular_ml.modelling.model import encode_target
from tabular_ml.modelling.search import run_search


def holdout_roc_auc(parameters) -> float:
    (logistic,) = [spec for spec in parameters.search.algorithms if "LogisticRegression" in spec.estimator]
    one_point = logistic.model_copy(update={"search_space": {"C": [0.1]}})
    search = parameters.search.model_copy(update={"algorithms": [one_point], "cv": 3, "n_jobs": 1})
    contract = parameters.contract
    cleaned, _ = clean_frame(load_data(parameters.source), parameters.cleaning, contract)
    train, test = split_frame(cleaned, contract, parameters.split)
    y_train = encode_target(train[contract.target], contract, parameters.task)
    result = run_search(
        train[contract.feature_names],
        y_train,
        contract,
        parameters.preprocessing,
        parameters.features,
        search,
    )
    proba = result.best_pipeline.predict_proba(test[contract.feature_names])[:, 1]
    return roc_auc_score(encode_target(test[contract.target], contract, parameters.task), proba)


def test_the_drafted_config_is_within_0_01_roc_auc_of_the_hand_written_one():
    drafted, handwritten = drafted_parameters(), handwritten_parameters()
    assert drafted.task == handwritten.task == "binary"
    assert set(drafted.contract.columns) == set(handwritten.contract.columns)
    drafted_auc, handwritten_auc = holdout_roc_auc(drafted), holdout_roc_auc(handwritten)
    assert handwritten_auc > 0.8
    assert drafted_auc == pytest.approx(handwritten_auc, abs=0.01)
