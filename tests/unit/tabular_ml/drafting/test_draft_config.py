"""draft-config: kinds, ranges, categories, task and REVIEW comments drafted from a table
(tabular_ml/drafting/draft_config.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from tabular_ml.configuration.run_config import resolve_config, resolve_config_dict
from tabular_ml.configuration.schema import TrainingParameters
from tabular_ml.drafting.draft_config import DraftError, draft_training_config
from tabular_ml.tasks.target import TargetError
from tests.support.paths import PROJECT_ROOT

ROWS = 40
SOURCE = {"type": "file", "path": "data/toy.csv"}


def toy_table() -> pd.DataFrame:
    """One column of every situation draft-config must recognise."""
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:04d}" for i in range(ROWS)],
            "tenure": np.arange(ROWS) * 72 // (ROWS - 1),  # 0 .. 72
            "partner": ["Yes", "no"] * (ROWS // 2),  # text yes/no, any case
            "senior": [0, 1, 0, 0] * (ROWS // 4),
            "paperless": [True, False] * (ROWS // 2),
            "contract": ["Month-to-month", "One year", "Two year", "One year"] * (ROWS // 4),
            "region": ["EU"] * ROWS,
            "notes": [None] * ROWS,
            # numbers as text: padded, one blank, one word
            "charges": [f" {20 + i}.5" for i in range(ROWS - 3)] + [" ", "abc", "30"],
            "city": [f"city{i % 30}" for i in range(ROWS)],
            "income": [float(1000 + 10 * i) if i % 5 > 1 else None for i in range(ROWS)],
            "churn": ["No", "Yes", "No", "No", "Yes"] * (ROWS // 5),
        }
    )


@pytest.fixture(scope="module")
def toy_draft():
    return draft_training_config(toy_table(), "churn", SOURCE, "toy", described_source="data/toy.csv")


def test_kinds_ranges_categories_and_missing_shares(toy_draft):
    columns = toy_draft.document["parameters"]["contract"]["columns"]
    assert columns == {
        "tenure": {"kind": "numeric", "min": 0, "max": 80},  # 72 + 7.2, never below 0
        "partner": {"kind": "binary"},
        "senior": {"kind": "binary"},
        "paperless": {"kind": "binary"},
        "contract": {"kind": "categorical", "categories": ["Month-to-month", "One year", "Two year"]},
        # 20.5 .. 56.5 widened by 3.6 and rounded outwards; 2 of 40 missing after cleaning -> 0.07
        "charges": {"kind": "numeric", "min": 16, "max": 61, "max_missing_share": 0.07},
        # 1020 .. 1390 widened by 37 to the tens; 16 of 40 missing -> 0.5
        "income": {"kind": "numeric", "min": 980, "max": 1430, "max_missing_share": 0.5},
    }


def test_roles_of_the_columns_left_out(toy_draft):
    roles = {column.name: column.role for column in toy_draft.columns}
    assert roles == {
        "customer_id": "identifier",
        "tenure": "feature",
        "partner": "feature",
        "senior": "feature",
        "paperless": "feature",
        "contract": "feature",
        "region": "constant",
        "notes": "empty",
        "charges": "feature",
        "city": "high_cardinality",
        "income": "feature",
    }
    assert [column.name for column in toy_draft.reviews] == [
        "customer_id",
        "notes",
        "charges",
        "city",
        "income",
    ]


def test_target_task_split_search_and_gates(toy_draft):
    parameters = toy_draft.document["parameters"]
    assert parameters["task"] == "binary"
    contract = parameters["contract"]
    assert (contract["target"], contract["classes"], contract["positive_class"]) == (
        "churn",
        ["No", "Yes"],
        "Yes",
    )
    assert contract["max_missing_share"] == 0.05 and contract["min_rows"] == 20
    assert parameters["split"] == {
        "test_size": 0.2,
        "random_state": 42,
        "stratify": True,
        "id_column": "customer_id",
    }
    search = parameters["search"]
    assert (search["scoring"], search["cv"]) == ("roc_auc", 5)
    assert [a["estimator"].rsplit(".", 1)[1] for a in search["algorithms"]] == [
        "LogisticRegression",
        "RandomForestClassifier",
        "HistGradientBoostingClassifier",
    ]
    assert all("class_weight" not in a.get("params", {}) for a in search["algorithms"])
    assert parameters["evaluation"] == {"threshold": "auto", "gates": {"beat_baseline": {"roc_auc": 0.05}}}
    assert toy_draft.document["model"]["name"] == "toy_classifier"
    assert toy_draft.document["steps"]["train_model"] == {"experiment_tracker": "mlflow_tracker"}


def test_comments_where_a_human_decides(toy_draft):
    lines = toy_draft.text.splitlines()

    def line_of(start: str) -> str:
        return next(line.strip() for line in lines if line.strip().startswith(start))

    assert line_of("# REVIEW: customer_id:") == (
        "# REVIEW: customer_id: identifier-like (its name; 40 distinct values in 40 rows): "
        "left out of the features; proposed as split.id_column"
    )
    assert line_of("# region:") == "# region: constant ('EU' in every row): left out"
    assert line_of("# REVIEW: notes:") == "# REVIEW: notes: every value is missing: left out"
    assert line_of("# REVIEW: city:").startswith(
        "# REVIEW: city: 30 distinct values in 40 rows (high cardinality)"
    )
    assert line_of("income:").endswith(
        "# REVIEW: 40% missing: keep it (imputed) or drop it (cleaning.drop_columns)"
    )
    assert line_of("charges:").endswith("# REVIEW: 1 value(s) are not numbers: cleaning makes them missing")
    assert line_of("partner:").endswith("# cleaning reads 'no' as 0 and 'Yes' as 1")
    assert line_of("paperless:").endswith("# cleaning reads False as 0 and True as 1")
    assert line_of("id_column:").startswith("id_column: customer_id  # REVIEW: identifier-like")
    assert line_of("task:").startswith("task: binary  # REVIEW: inferred (2 distinct target values)")


def test_the_text_loads_back_to_the_document_and_validates(toy_draft):
    loaded = yaml.safe_load(toy_draft.text)
    assert loaded == toy_draft.document
    assert "classes: ['No', 'Yes']" in toy_draft.text  # quoted: unquoted they would load as booleans
    config = resolve_config_dict(loaded, [], "training")
    parameters = TrainingParameters.model_validate(config["parameters"])
    assert parameters.evaluation.threshold == "auto"
    assert parameters.evaluation.gates.beat_baseline == {"roc_auc": 0.05}
    assert parameters.contract.columns["income"].max_missing_share == 0.5


@pytest.mark.parametrize(
    ("labels", "task", "classes", "positive", "literal"),
    [
        ([0, 1, 2, 1] * 10, "multiclass", [0, 1, 2], None, "classes: [0, 1, 2]"),
        ([True, False] * 20, "binary", [False, True], True, "positive_class: true"),
        (["yes", "no"] * 20, "binary", ["no", "yes"], "yes", "classes: ['no', 'yes']"),
        ([1, 0, 0, 0] * 10, "binary", [0, 1], 1, "positive_class: 1"),
    ],
)
def test_classes_keep_the_type_of_the_labels(labels, task, classes, positive, literal):
    frame = pd.DataFrame({"x": np.arange(40) % 7, "label": labels})
    draft = draft_training_config(frame, "label", SOURCE, "t")
    contract = draft.document["parameters"]["contract"]
    assert draft.document["parameters"]["task"] == task
    assert contract["classes"] == classes and contract.get("positive_class") == positive
    assert literal in draft.text
    assert yaml.safe_load(draft.text)["parameters"]["contract"]["classes"] == classes
    assert draft.document["parameters"]["search"]["scoring"] == (
        "f1_macro" if task == "multiclass" else "roc_auc"
    )


def test_a_numeric_target_is_a_regression():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=60), "y": rng.normal(100, 10, size=60)})
    draft = draft_training_config(frame, "y", SOURCE, "houses")
    parameters = draft.document["parameters"]
    assert parameters["task"] == "regression"
    assert "classes" not in parameters["contract"] and "positive_class" not in parameters["contract"]
    assert parameters["split"]["stratify"] is False
    assert parameters["search"]["scoring"] == "neg_root_mean_squared_error"
    assert [a["name"] for a in parameters["search"]["algorithms"]] == [
        "ridge",
        "random_forest",
        "hist_gradient_boosting",
    ]
    assert parameters["search"]["algorithms"][1]["estimator"] == "sklearn.ensemble.RandomForestRegressor"
    assert parameters["evaluation"] == {"gates": {"beat_baseline": {"r2": 0.05}}}
    assert draft.document["model"]["name"] == "houses_regressor"
    TrainingParameters.model_validate(yaml.safe_load(draft.text)["parameters"])


def test_a_given_task_that_does_not_fit_fails():
    frame = pd.DataFrame({"x": [i % 7 for i in range(30)], "label": ["a", "b", "c"] * 10})
    with pytest.raises(TargetError, match="a binary target needs exactly 2 classes"):
        draft_training_config(frame, "label", SOURCE, "t", task="binary")
    draft = draft_training_config(
        frame.assign(label=[1.5, 2.5, 3.5] * 10), "label", SOURCE, "t", task="regression"
    )
    assert draft.document["parameters"]["task"] == "regression"


def test_a_misspelled_target_suggests_the_column():
    with pytest.raises(
        DraftError, match=r"^--target 'Churn' is not a column of the data \(did you mean 'churn'\?\)$"
    ):
        draft_training_config(toy_table(), "Churn", SOURCE, "toy")


def test_a_table_without_any_usable_feature_fails():
    frame = pd.DataFrame({"region": ["EU"] * 30, "y": [0, 1] * 15})
    with pytest.raises(
        DraftError, match=r"no column can be a feature: region: constant \('EU' in every row\)"
    ):
        draft_training_config(frame, "y", SOURCE, "t")


@pytest.mark.parametrize(
    ("config", "table", "task", "target"),
    [
        ("training_wine.yaml", "wine.csv", "multiclass", "cultivar"),
        ("training_diabetes.yaml", "diabetes.csv", "regression", "progression"),
    ],
)
def test_the_example_configs_validate_and_match_a_fresh_draft(config, table, task, target):
    resolved = resolve_config(str(PROJECT_ROOT / "configs" / config), [], "training", no_cache=False)
    assert resolved["parameters"]["task"] == task
    frame = pd.read_csv(PROJECT_ROOT / "data" / "examples" / table)
    source = {"type": "file", "path": f"data/examples/{table}"}
    fresh = draft_training_config(frame, target, source, table.removesuffix(".csv"), None, source["path"])
    assert yaml.safe_load((PROJECT_ROOT / "configs" / config).read_text()) == fresh.document
