"""What a served model answers per row, by task: the columns, the rows, the logged score and the
class counts (serving/answers.py)."""

import numpy as np

from serving.answers import answer, output_names
from tests.support.served_examples import meta


def test_the_columns_of_each_task():
    assert output_names(meta("binary")) == ["prediction", "probability"]
    assert output_names(meta("multiclass")) == [
        "prediction",
        "probability_a",
        "probability_b",
        "probability_c",
    ]
    assert output_names(meta("regression")) == ["prediction"]


def test_a_binary_label_follows_the_bundles_threshold_and_the_score_is_the_positive_probability():
    scores = np.array([0.39, 0.4, 0.9])  # the bundle's threshold is 0.4
    result = answer(meta("binary"), scores)
    assert result.rows == [["No", 0.39], ["Yes", 0.4], ["Yes", 0.9]]
    assert result.labels == ["No", "Yes", "Yes"]
    assert result.class_counts == {"No": 1, "Yes": 2}
    np.testing.assert_array_equal(result.score, scores)


def test_a_multiclass_label_is_the_most_probable_class_and_the_score_its_probability():
    scores = np.array([[0.2, 0.5, 0.3], [0.7, 0.1, 0.2], [0.1, 0.3, 0.6]])
    result = answer(meta("multiclass"), scores)
    assert result.rows == [["b", 0.2, 0.5, 0.3], ["a", 0.7, 0.1, 0.2], ["c", 0.1, 0.3, 0.6]]
    assert result.class_counts == {"b": 1, "a": 1, "c": 1}
    np.testing.assert_array_equal(result.score, [0.5, 0.7, 0.6])


def test_a_regression_answers_the_value_and_counts_no_classes():
    scores = np.array([12.5, -3.0])
    result = answer(meta("regression"), scores)
    assert result.rows == [[12.5], [-3.0]] and result.labels == [12.5, -3.0]
    assert result.class_counts == {}
    np.testing.assert_array_equal(result.score, scores)
