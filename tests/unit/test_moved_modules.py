"""Models and artifacts saved under the library's old module paths still load."""

import importlib
import pickle

import pandas as pd
import pytest
from zenml.utils import source_utils

from tabular_ml.modelling.evaluation import EvaluationReport
from tabular_ml.modelling.features import RatioTransformer
from tabular_ml.moved_modules import MOVED_MODULES


def test_every_new_path_exists_and_no_old_path_is_a_file():
    for old, new in MOVED_MODULES.items():
        assert importlib.import_module(new).__name__ == new
        assert importlib.util.find_spec(old).origin is None, f"{old} is a module again: drop its alias"


@pytest.mark.parametrize("old,new", sorted(MOVED_MODULES.items()))
def test_an_old_path_is_the_new_module(old, new):
    assert importlib.import_module(old) is importlib.import_module(new)


def test_a_transformer_pickled_under_the_old_path_unpickles():
    fitted = RatioTransformer("per_month", "total", "tenure").fit(
        pd.DataFrame({"total": [10.0], "tenure": [2]})
    )
    saved = pickle.dumps(fitted, protocol=2)  # protocol 2 names classes as plain text
    assert b"tabular_ml.modelling.features" in saved
    old = saved.replace(b"tabular_ml.modelling.features", b"tabular_ml.features")
    loaded = pickle.loads(old)
    assert type(loaded) is RatioTransformer
    frame = pd.DataFrame({"total": [10.0, 9.0], "tenure": [0, 3]})
    assert loaded.transform(frame)["per_month"].tolist()[1] == 3.0
    pd.testing.assert_frame_equal(loaded.transform(frame), fitted.transform(frame))


def test_zenml_loads_an_artifact_type_by_its_old_path():
    assert source_utils.load("tabular_ml.evaluation.EvaluationReport") is EvaluationReport
