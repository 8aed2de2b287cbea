"""The task and the class labels: configured or inferred, and labels of any type."""

import numpy as np
import pandas as pd
import pytest

from tabular_ml.configuration.schema import DataContract
from tabular_ml.tasks.target import TargetError, label_text, resolve_target


def test_label_text_makes_numbers_and_text_one_label():
    assert [label_text(v) for v in (0, np.int64(1), 2.0, "3", True, np.bool_(False), 1.5)] == [
        "0",
        "1",
        "2",
        "3",
        "True",
        "False",
        "1.5",
    ]


@pytest.mark.parametrize(
    ("labels", "task", "classes"),
    [
        (["No", "Yes", "No"], "binary", ["No", "Yes"]),
        ([0, 1, 1, 0], "binary", ["0", "1"]),
        ([True, False, True], "binary", ["False", "True"]),
        (["a", "b", "c", "a"], "multiclass", ["a", "b", "c"]),
        ([2, 10, 1, 2], "multiclass", ["1", "2", "10"]),  # numeric order, not text order
        (np.arange(50), "regression", []),
        ([0.5, 1.0, 1.5], "regression", []),
    ],
)
def test_task_and_classes_are_inferred(labels, task, classes):
    spec = resolve_target(pd.Series(labels), "y")
    assert (spec.task, spec.classes, spec.inferred) == (task, classes, True)


def test_integer_boolean_and_text_targets_encode_alike():
    as_int = resolve_target(pd.Series([0, 1, 1]), "y", classes=[0, 1], positive_class=1)
    as_text = resolve_target(pd.Series(["0", "1", "1"]), "y", classes=["0", "1"], positive_class="1")
    as_float = resolve_target(pd.Series([0.0, 1.0, 1.0]), "y", classes=["0", "1"])
    for spec, labels in ((as_int, [0, 1, 1]), (as_text, ["0", "1", "1"]), (as_float, [0.0, 1.0, 1.0])):
        assert spec.classes == ["0", "1"]
        assert spec.encode(pd.Series(labels)).tolist() == [0, 1, 1]


def test_yaml_booleans_match_yes_no_text_in_the_data():
    # YAML reads unquoted yes/no as True/False
    spec = resolve_target(pd.Series(["yes", "no", "yes"]), "y", classes=[False, True], positive_class=True)
    assert spec.classes == ["no", "yes"]
    assert spec.positive_class == "yes"
    assert spec.encode(pd.Series(["yes", "no"])).tolist() == [1, 0]


def test_positive_class_is_moved_last_whatever_the_configured_order():
    spec = resolve_target(pd.Series(["Yes", "No"]), "churn", classes=["Yes", "No"], positive_class="Yes")
    assert spec.classes == ["No", "Yes"]
    assert spec.encode(["Yes", "No", "No"]).tolist() == [1, 0, 0]


def test_a_label_outside_the_classes_names_itself():
    with pytest.raises(
        TargetError,
        match=r"1 row\(s\) hold label\(s\) outside the classes \['No', 'Yes'\] \(e\.g\. 'Maybe'\)",
    ):
        resolve_target(pd.Series(["No", "Yes", "Maybe"]), "churn", classes=["No", "Yes"])


def test_three_classes_cannot_be_binary():
    with pytest.raises(
        TargetError, match="binary target needs exactly 2 classes.*set parameters.task: multiclass"
    ):
        resolve_target(pd.Series(["a", "b", "c"]), "y", task="binary")


def test_regression_refuses_text_and_classes():
    with pytest.raises(TargetError, match=r"non-numeric value\(s\) \(e.g. 'high'\)"):
        resolve_target(pd.Series([1.0, "high"], dtype=object), "y", task="regression")
    with pytest.raises(TargetError, match="regression target has no classes"):
        resolve_target(pd.Series([1.0, 2.0]), "y", task="regression", classes=[1, 2])


def test_contract_classes_may_be_numbers_booleans_or_left_out():
    columns = {"x": {"kind": "numeric"}}
    assert DataContract(target="y", classes=[0, 1], positive_class=1, columns=columns).classes == [0, 1]
    assert DataContract(target="y", columns=columns).classes is None
    with pytest.raises(ValueError, match="positive_class 2 is not one of classes"):
        DataContract(target="y", classes=[0, 1], positive_class=2, columns=columns)
    with pytest.raises(ValueError, match="name the same label twice"):
        DataContract(target="y", classes=[1, "1"], columns=columns)
