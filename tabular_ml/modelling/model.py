"""The one scikit-learn Pipeline that is trained and later served (no ZenML here).

``features`` (derived columns) -> ``preprocess`` (ColumnTransformer with
explicit column lists) -> ``model`` (any classifier or regressor). The target is
encoded outside the Pipeline (:mod:`tabular_ml.tasks.target`): class ``i`` is the
target spec's ``classes[i]``; a binary model predicts 1 for the positive class.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, is_classifier, is_regressor
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, RobustScaler, StandardScaler

from tabular_ml.configuration.schema import AlgorithmSpec, DataContract, FeatureSpec, PreprocessingConfig
from tabular_ml.modelling.explanation_methods import AVERAGED_TREES, BOOSTED_TREES, TREE_REGRESSORS
from tabular_ml.modelling.features import build_feature_steps, derived_feature_names
from tabular_ml.tasks.target import Task, resolve_target

__all__ = [
    "build_model",
    "build_preprocessor",
    "encode_target",
    "encodes_categories_as_codes",
    "feature_importances",
    "is_tree_model",
    "make_estimator",
]

logger = logging.getLogger(__name__)

MISSING_CATEGORY = "missing"

_SCALERS = {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}

#: What permutation importance measures the loss of, per task.
_PERMUTATION_SCORING = {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "r2"}


# --------------------------------------------------------------------------- target


def encode_target(
    y: pd.Series | Sequence[Any], contract: DataContract, task: Task | None = None
) -> np.ndarray:
    """The target as the model learns it, resolved from the contract and these labels.

    A shortcut of :func:`tabular_ml.tasks.target.resolve_target` + ``encode``: for a binary
    target 1 is the positive class. Missing or unknown labels raise ValueError.
    """
    labels = pd.Series(y, copy=False)
    spec = resolve_target(labels, contract.target, task, contract.classes, contract.positive_class)
    return spec.encode(labels)


# --------------------------------------------------------------------------- estimator


def make_estimator(
    spec: AlgorithmSpec, random_state: int | None = None, task: Task = "binary"
) -> BaseEstimator:
    """An instance of ``spec.estimator`` (a dotted class path) with ``spec.params``.

    ``random_state`` is set when the class has that parameter and ``spec.params``
    does not give it. Raises ValueError when the module or class cannot be found,
    the parameters are not accepted, or the class does not suit the task (a
    classifier, or a regressor for regression).
    """
    module_name, _, class_name = spec.estimator.rpartition(".")
    if not module_name:
        raise ValueError(
            f"algorithm {spec.name!r}: estimator {spec.estimator!r} is not a dotted path "
            "such as sklearn.linear_model.LogisticRegression"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(
            f"algorithm {spec.name!r}: cannot import module {module_name!r} of {spec.estimator!r}: {exc}"
        ) from exc
    cls = getattr(module, class_name, None)
    if cls is None or not isinstance(cls, type):
        raise ValueError(f"algorithm {spec.name!r}: module {module_name!r} has no class {class_name!r}")
    try:
        estimator = cls(**spec.params)
    except TypeError as exc:
        raise ValueError(
            f"algorithm {spec.name!r}: {spec.estimator} rejects params {spec.params}: {exc}"
        ) from exc
    wanted, suits = ("regressor", is_regressor) if task == "regression" else ("classifier", is_classifier)
    if not (hasattr(estimator, "get_params") and hasattr(estimator, "fit") and suits(estimator)):
        raise ValueError(
            f"algorithm {spec.name!r}: {spec.estimator} is not a scikit-learn {wanted} (the task is {task})"
        )
    accepts_seed = "random_state" in estimator.get_params(deep=False)
    if random_state is not None and accepts_seed and "random_state" not in spec.params:
        estimator.set_params(random_state=random_state)
    return estimator


# --------------------------------------------------------------------------- pipeline


def _column_groups(
    contract: DataContract, preprocessing: PreprocessingConfig, derived: list[str]
) -> tuple[list[str], list[str], list[str]]:
    unknown = [column for column in preprocessing.ordinal if column not in contract.columns]
    if unknown:
        raise ValueError(f"preprocessing.ordinal names column(s) {unknown} that the contract does not have")
    ordinal = list(preprocessing.ordinal)
    numeric = [
        name
        for name, spec in contract.columns.items()
        if spec.kind in ("numeric", "binary") and name not in preprocessing.ordinal
    ] + derived
    categorical = [
        name for name in contract.columns_of_kind("categorical") if name not in preprocessing.ordinal
    ]
    return numeric, categorical, ordinal


def _categorical_imputer(preprocessing: PreprocessingConfig) -> SimpleImputer:
    if preprocessing.categorical_imputer == "constant":
        return SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY)
    return SimpleImputer(strategy="most_frequent")


def _plain_names_are_safe(numeric: list[str], categorical: list[str], ordinal: list[str]) -> bool:
    """Whether un-prefixed output names cannot collide.

    One-hot columns are named ``<column>_<category>``; they can only clash with
    another output name that starts with ``<categorical column>_``.
    """
    others = numeric + categorical + ordinal
    return not any(name.startswith(f"{column}_") for column in categorical for name in others)


#: scikit-learn's trees and tree ensembles, as the explanations know them (subclasses count too).
_SKLEARN_TREES = (*AVERAGED_TREES, *BOOSTED_TREES, *TREE_REGRESSORS)
#: Packages whose estimators are all gradient-boosted trees.
_TREE_PACKAGES = ("xgboost", "lightgbm", "catboost")


def is_tree_model(estimator: Any) -> bool:
    """Whether ``estimator`` is a decision tree or an ensemble of trees."""
    package = type(estimator).__module__.partition(".")[0]
    return isinstance(estimator, _SKLEARN_TREES) or package in _TREE_PACKAGES


def encodes_categories_as_codes(preprocessing: PreprocessingConfig, estimator: Any = None) -> bool:
    """Whether the categorical columns become one column of category codes each, not one-hot.

    A tree splits a code column as well as one-hot columns (a category is a few splits away);
    a linear model cannot, so ``auto`` gives codes to trees only. Codes keep the training matrix
    at one column per categorical column: with 11 text columns of 2-4 categories, 19 columns
    instead of 40, half the memory of the refit on ten million rows.
    """
    encoding = preprocessing.categorical_encoding
    return encoding == "codes" or (encoding == "auto" and is_tree_model(estimator))


def _category_codes(preprocessing: PreprocessingConfig) -> Pipeline:
    """Imputation, then each category's index in the sorted categories; an unseen one is -1."""
    return Pipeline(
        [
            ("impute", _categorical_imputer(preprocessing)),
            ("encode", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)),
        ]
    )


def build_preprocessor(
    contract: DataContract,
    preprocessing: PreprocessingConfig,
    derived: Sequence[str] = (),
    estimator: Any = None,
) -> ColumnTransformer:
    """The ``preprocess`` step: imputation, scaling and encoding by explicit column lists.

    Categorical columns are one-hot encoded, or category codes (``preprocessing.categorical_encoding``,
    ``auto`` deciding by ``estimator``). Output names are the plain column names (``tenure``,
    ``contract_Two year``) unless such names could collide, in which case they carry the
    transformer prefix (``num__tenure``).
    """
    numeric, categorical, ordinal = _column_groups(contract, preprocessing, list(derived))
    codes = encodes_categories_as_codes(preprocessing, estimator)
    transformers: list[tuple[str, TransformerMixin, list[str]]] = []
    if numeric:
        numeric_steps: list[tuple[str, Any]] = [
            ("impute", SimpleImputer(strategy=preprocessing.numeric_imputer))
        ]
        if preprocessing.scaler != "none":
            numeric_steps.append(("scale", _SCALERS[preprocessing.scaler]()))
        transformers.append(("num", Pipeline(numeric_steps), numeric))
    if categorical:
        one_hot = Pipeline(
            [
                ("impute", _categorical_imputer(preprocessing)),
                ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
            ]
        )
        transformers.append(("cat", _category_codes(preprocessing) if codes else one_hot, categorical))
    if ordinal:
        transformers.append(
            (
                "ord",
                Pipeline(
                    [
                        ("impute", _categorical_imputer(preprocessing)),
                        (
                            "encode",
                            OrdinalEncoder(
                                categories=[list(preprocessing.ordinal[column]) for column in ordinal],
                                handle_unknown="use_encoded_value",
                                unknown_value=-1,
                            ),
                        ),
                    ]
                ),
                ordinal,
            )
        )
    return ColumnTransformer(
        transformers,
        remainder="drop",
        sparse_threshold=0.0,
        # a code column keeps its column's name: only one-hot names can collide
        verbose_feature_names_out=not _plain_names_are_safe(numeric, [] if codes else categorical, ordinal),
    )


def build_model(
    contract: DataContract,
    preprocessing: PreprocessingConfig,
    features: Sequence[FeatureSpec],
    estimator: BaseEstimator,
) -> Pipeline:
    """``features`` -> ``preprocess`` -> ``model``: the Pipeline that is trained and served.

    It takes the raw feature columns as a DataFrame (extra columns, such as the
    target, are dropped) and, once fitted, ``pipeline[:-1].get_feature_names_out()``
    names the model's inputs.
    """
    steps = build_feature_steps(features, contract.feature_names)
    derived = derived_feature_names(features)
    feature_step: Pipeline | str = Pipeline(steps) if steps else "passthrough"
    return Pipeline(
        [
            ("features", feature_step),
            ("preprocess", build_preprocessor(contract, preprocessing, derived, estimator)),
            ("model", estimator),
        ]
    )


# --------------------------------------------------------------------------- importances


def feature_importances(
    pipeline: Pipeline,
    top: int = 15,
    X: pd.DataFrame | None = None,
    y: Any = None,
    *,
    n_repeats: int = 5,
    max_rows: int = 2000,
    scoring: str | None = None,
    random_state: int = 0,
    task: Task = "binary",
) -> list[tuple[str, float]]:
    """The ``top`` most important model inputs, as ``(name, importance)``, largest first.

    Uses ``|coef_|`` (mean over classes for multi-class) for linear models,
    ``feature_importances_`` for trees, and otherwise, when ``X`` (raw rows) and
    ``y`` (encoded as for training) are given, permutation importance of the
    model's inputs on at most ``max_rows`` rows. Returns [] when none applies.
    """
    model = pipeline[-1]
    names = [str(name) for name in pipeline[:-1].get_feature_names_out()]
    if hasattr(model, "coef_"):
        coef = np.abs(np.asarray(model.coef_, dtype=float))
        values = coef.reshape(-1, coef.shape[-1]).mean(axis=0)
    elif hasattr(model, "feature_importances_"):
        values = np.asarray(model.feature_importances_, dtype=float)
    elif X is not None and y is not None:
        from sklearn.inspection import permutation_importance

        y_arr = np.asarray(y)
        if len(X) > max_rows:
            rows = np.random.default_rng(random_state).choice(len(X), size=max_rows, replace=False)
            X, y_arr = X.iloc[np.sort(rows)], y_arr[np.sort(rows)]
        scoring = scoring or _PERMUTATION_SCORING[task]
        if scoring == "roc_auc" and len(np.unique(y_arr)) != 2:
            scoring = None
        result = permutation_importance(
            model,
            pipeline[:-1].transform(X),
            y_arr,
            scoring=scoring,
            n_repeats=n_repeats,
            random_state=random_state,
        )
        values = np.asarray(result.importances_mean, dtype=float)
    else:
        logger.info("%s has neither coef_ nor feature_importances_; no importances", type(model).__name__)
        return []
    if len(values) != len(names):
        logger.warning("%d importances for %d feature names; no importances", len(values), len(names))
        return []
    order = np.argsort(-values, kind="stable")[:top]
    return [(names[i], float(values[i])) for i in order]
