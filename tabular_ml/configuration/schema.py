"""Typed configuration of the project's pipelines.

Every model forbids unknown keys, so a typo in YAML or in a command-line
override stops the run before any step, naming the key.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from tabular_ml.configuration.redaction import find_credentials
from tabular_ml.tasks.metric_names import HIGHER_IS_BETTER, describe_unknown_metric, metric_names
from tabular_ml.tasks.target import Task, label_text


class StrictModel(BaseModel):
    """Base for every config model: unknown keys are errors, models are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- sources


class SourceModel(StrictModel):
    """Base of every data source config: credentials are refused, never kept in a config.

    Each field is checked with the rule of :mod:`tabular_ml.configuration.redaction`: a URL with a password
    or a credential-like query parameter, or a mapping (``params``) with a credential-like key.
    The error names the key, says what to use instead (``credential_advice``) and shows the
    value masked.
    """

    credential_advice: ClassVar[str] = "keep credentials out of configs/ (use the environment)"

    @model_validator(mode="after")
    def _no_credentials(self) -> SourceModel:
        errors: list[InitErrorDetails] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, BaseModel):  # nested models (pagination) have their own rules
                continue
            for location, problem, masked in find_credentials(value, (name,)):
                details = {"problem": problem, "advice": self.credential_advice}
                error = PydanticCustomError("credential_in_config", "{problem}; {advice}", details)
                errors.append(InitErrorDetails(type=error, loc=location, input=masked))
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self


class FileSource(SourceModel):
    """CSV or Parquet file(s): one path or a glob of paths."""

    credential_advice: ClassVar[str] = (
        "use a path without credentials (a storage's credentials come from the environment)"
    )

    type: Literal["file"] = "file"
    path: str = Field(description="A path or a glob such as data/raw/*.parquet")
    format: Literal["auto", "csv", "parquet"] = Field(
        "auto", description="auto: from the file suffix (.csv, .parquet)"
    )


class SqlSource(SourceModel):
    """A table or a query behind any SQLAlchemy URL.

    The URL in a config must not carry a password: give ``password_env`` (an
    environment variable) or ``secret`` (a ZenML secret with a ``password`` or
    ``url`` key), or put the whole URL in the environment variable ``url_env``.
    """

    credential_advice: ClassVar[str] = "use password_env, url_env or a ZenML secret (secret: NAME) instead"

    type: Literal["sql"] = "sql"
    url: str | None = Field(None, description="a SQLAlchemy URL without a password")
    url_env: str | None = Field(
        None, description="environment variable holding the whole URL (it may carry the password)"
    )
    password_env: str | None = Field(None, description="environment variable holding the password for url")
    secret: str | None = Field(None, description="a ZenML secret with a url and/or password key")
    table: str | None = Field(None, description="table to read whole (or query)")
    query: str | None = Field(None, description="SELECT to read (or table)")

    @model_validator(mode="after")
    def _one_location_and_one_selection(self) -> SqlSource:
        if (self.url is None) == (self.url_env is None) and self.secret is None:
            raise ValueError("give exactly one of 'url' or 'url_env' (or a 'secret' holding the url)")
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' or 'query'")
        return self


class Pagination(StrictModel):
    """Page-by-page fetching: ``?page=1&page_size=500``, until a short or empty page."""

    page_param: str = Field("page", description="query parameter of the page number")
    size_param: str = Field("page_size", description="query parameter of the page size")
    page_size: int = Field(500, gt=0, description="records asked for per page")
    first_page: int = Field(1, description="number of the first page")
    max_pages: int = Field(10_000, gt=0, description="pages fetched at most")


class ApiSource(SourceModel):
    """HTTP GET returning JSON records (a list, or a list under ``records_key``)."""

    credential_advice: ClassVar[str] = (
        "use token_env (an environment variable holding a bearer token) instead"
    )

    type: Literal["api"] = "api"
    url: str = Field(description="the endpoint; credentials in its query are refused (use token_env)")
    params: dict[str, Any] = Field(
        default_factory=dict, description="query parameters; credential-like keys are refused"
    )
    records_key: str | None = Field(
        None, description="key of the records list in the JSON answer; None: the answer is the list"
    )
    timeout_s: float = Field(10.0, gt=0, description="seconds each connect or read may wait for the server")
    retries: int = Field(
        3, ge=0, description="retries after the first attempt on connection errors, timeouts, 429, 5xx"
    )
    backoff_s: float = Field(0.5, ge=0, description="waits between retries: backoff_s, 2x, 4x ...")
    deadline_s: float = Field(
        300.0,
        gt=0,
        description="most seconds one request (a page) may take from connecting to the last byte of "
        "its body, its retries and waits included; a server trickling bytes cannot stretch it",
    )
    max_response_bytes: int = Field(
        256 * 1024**2,
        gt=0,
        description="largest response body read (decompressed), in bytes: 256 MiB; a larger one is an error",
    )
    token_env: str | None = Field(None, description="env variable holding a bearer token")
    pagination: Pagination | None = Field(None, description="fetch page by page; None: one request")


SourceConfig = Annotated[FileSource | SqlSource | ApiSource, Field(discriminator="type")]


# --------------------------------------------------------------------------- batch scoring

SINK_CSV_SUFFIXES = (".csv", ".csv.gz")
SINK_PARQUET_SUFFIXES = (".parquet", ".pq")


class FileSink(SourceModel):
    """Predictions added to a CSV file, or as one part file per batch in a Parquet directory; a rerun
    of the same input and model version replaces its rows (``batch_key``)."""

    credential_advice: ClassVar[str] = FileSource.credential_advice

    type: Literal["file"] = "file"
    path: str = Field(
        description="predictions.csv (each batch's rows added, a rerun's replaced) or predictions.parquet "
        "(a directory of part files, one per batch)"
    )
    format: Literal["auto", "csv", "parquet"] = Field("auto", description="auto: from the path's suffix")

    @model_validator(mode="after")
    def _format_known(self) -> FileSink:
        if self.format == "auto" and not self.path.lower().endswith(
            SINK_CSV_SUFFIXES + SINK_PARQUET_SUFFIXES
        ):
            raise ValueError(
                f"cannot tell the format of {self.path!r} from its suffix; expected one of "
                f"{', '.join(SINK_CSV_SUFFIXES + SINK_PARQUET_SUFFIXES)} or format: csv|parquet"
            )
        return self

    @property
    def file_format(self) -> str:
        if self.format != "auto":
            return self.format
        return "csv" if self.path.lower().endswith(SINK_CSV_SUFFIXES) else "parquet"


class SqlSink(SourceModel):
    """A table behind any SQLAlchemy URL, created when missing; a batch's rows are added in one
    transaction, and a rerun of the same input and model version replaces them.

    Credentials as for :class:`SqlSource`: ``password_env``, ``url_env`` or a ZenML ``secret``.
    """

    credential_advice: ClassVar[str] = SqlSource.credential_advice

    type: Literal["sql"] = "sql"
    url: str | None = Field(None, description="a SQLAlchemy URL without a password")
    url_env: str | None = Field(
        None, description="environment variable holding the whole URL (it may carry the password)"
    )
    password_env: str | None = Field(None, description="environment variable holding the password for url")
    secret: str | None = Field(None, description="a ZenML secret with a url and/or password key")
    table: str = Field(description="table or schema.table")

    @model_validator(mode="after")
    def _one_location(self) -> SqlSink:
        if (self.url is None) == (self.url_env is None) and self.secret is None:
            raise ValueError("give exactly one of 'url' or 'url_env' (or a 'secret' holding the url)")
        return self


SinkConfig = Annotated[FileSink | SqlSink, Field(discriminator="type")]


class ExplainConfig(StrictModel):
    """Per-row explanations in batch scoring: each row's largest contributions as columns."""

    top_k: int = Field(
        3,
        ge=1,
        le=20,
        description="columns reason_1..k (the input column) and contribution_1..k (its contribution "
        "to the output, largest by size first) added to each prediction",
    )


_ORDER_BY = re.compile(r"\border\s+by\b", re.IGNORECASE)
_ROW_LIMIT = re.compile(r"\b(limit|offset|fetch)\b", re.IGNORECASE)


def partitioning_problem(source: FileSource | SqlSource | ApiSource) -> str | None:
    """Why batch scoring cannot cut ``source`` into row ranges (one line), or None when it can.

    Files can (Parquet by row groups, CSV by lines); SQL only as a query ordered by a total
    order, to which ``LIMIT``/``OFFSET`` is appended; an API answer has no row ranges.
    """
    if isinstance(source, ApiSource):
        return "an api source cannot be partitioned (its answer has no row ranges); use partitions: 1"
    if isinstance(source, SqlSource):
        if source.query is None:
            return (
                "a sql table has no row order to cut into ranges; give a query ending in "
                "ORDER BY a unique key instead of the table"
            )
        orders = list(_ORDER_BY.finditer(source.query))
        if not orders:
            return "a sql query needs ORDER BY (a unique key) to be cut into ranges with LIMIT/OFFSET"
        if _ROW_LIMIT.search(source.query[orders[-1].end() :]):
            return "a sql query with its own LIMIT/OFFSET cannot be partitioned; drop it or use partitions: 1"
    return None


class InferenceParameters(StrictModel):
    """The ``parameters:`` section of configs/inference.yaml (batch scoring).

    The model, its contract, cleaning and threshold come from the production model version.
    """

    source: SourceConfig = Field(description="the rows to score: a file, SQL or API source")
    sink: SinkConfig = Field(description="where the predictions go: a file or a SQL table")
    chunk_rows: int = Field(100_000, ge=1, description="rows read, validated and scored at a time")
    key_column: str | None = Field(None, description="written with each prediction; default: the row number")
    explain: ExplainConfig | None = Field(
        None,
        description="add each row's top reasons (see docs/guides/batch-scoring.md); null: predictions only",
    )
    partitions: int = Field(
        1,
        ge=1,
        le=256,
        description="score the input in this many parallel steps (score_partition_<i>, merged by "
        "merge_partitions into the same output); 1: one score_batch step. Files and SQL queries "
        "with ORDER BY only (see docs/guides/batch-scoring.md#partitions)",
    )

    @field_validator("partitions")
    @classmethod
    def _partitionable(cls, partitions: int, info) -> int:
        source = info.data.get("source")
        problem = partitioning_problem(source) if partitions > 1 and source is not None else None
        if problem is not None:
            raise ValueError(problem)
        return partitions


# --------------------------------------------------------------------------- data contract


class ColumnSpec(StrictModel):
    """What one feature column may hold."""

    kind: Literal["numeric", "categorical", "binary"] = Field(
        description="numeric, categorical, or binary (0/1; yes/no words are read as 1/0)"
    )
    min: float | None = Field(None, description="smallest allowed value (numeric)")
    max: float | None = Field(None, description="largest allowed value (numeric)")
    categories: list[str] | None = Field(None, description="allowed categories (categorical); None: any")
    max_missing_share: float | None = Field(
        None,
        ge=0,
        le=1,
        description="largest share of missing values; None: the contract's max_missing_share",
    )


Label = str | bool | int | float  # a class label as YAML writes it; compared by its text (label_text)


class DataContract(StrictModel):
    """What the data must look like before anything is trained on it.

    ``classes`` and ``positive_class`` are for classification and may be left out: the
    classes are then the target's observed labels, and a binary task's positive class is
    the last of them (``1`` after ``0``, ``Yes`` after ``No``).
    """

    target: str = Field(description="the column to predict")
    classes: list[Label] | None = Field(
        None, min_length=2, description="classification: the labels; None: the observed ones"
    )
    positive_class: Label | None = Field(
        None, description="binary: the class whose probability is served; None: the last class"
    )
    columns: dict[str, ColumnSpec] = Field(
        min_length=1, description="feature column name -> what it may hold; other columns are left out"
    )
    max_missing_share: float = Field(
        0.05, ge=0, le=1, description="largest share of missing values in a column without its own"
    )
    duplicates: Literal["keep", "drop", "fail"] = Field(
        "keep", description="duplicate rows: keep, drop (in cleaning) or fail"
    )
    min_rows: int = Field(10, ge=1, description="fewer rows fail validation")

    @model_validator(mode="after")
    def _positive_class_is_a_class(self) -> DataContract:
        texts = [label_text(label) for label in self.classes or []]
        if len(set(texts)) != len(texts):
            raise ValueError(f"classes {self.classes} name the same label twice")
        if self.positive_class is not None and self.classes is not None:
            if label_text(self.positive_class) not in texts:
                raise ValueError(
                    f"positive_class {self.positive_class!r} is not one of classes {self.classes}"
                )
        if self.target in self.columns:
            raise ValueError(f"the target {self.target!r} must not be listed among the feature columns")
        return self

    def columns_of_kind(self, kind: str) -> list[str]:
        """Names of the feature columns of one kind, in contract order."""
        return [name for name, spec in self.columns.items() if spec.kind == kind]

    @property
    def feature_names(self) -> list[str]:
        return list(self.columns)


class CleaningConfig(StrictModel):
    """Safe, recorded fixes applied before validation."""

    strip_whitespace: bool = Field(True, description="strip leading and trailing spaces from text")
    empty_strings_as_missing: bool = Field(True, description="blank text becomes a missing value")
    coerce_numeric: bool = Field(True, description="numeric columns held as text are parsed as numbers")
    drop_columns: list[str] = Field(default_factory=list, description="columns removed before anything else")


class SplitConfig(StrictModel):
    """Train/holdout split."""

    test_size: float = Field(
        0.2, gt=0, lt=1, description="share of rows in the holdout (each row's side follows its hash)"
    )
    random_state: int = Field(42, description="salt of the row hash: another value, another split")
    stratify: bool = Field(
        True, description="checked: log each class's holdout share and warn when it is off"
    )
    id_column: str | None = Field(
        None,
        description=(
            "a row's split side follows this column (default: a hash of the feature columns); "
            "set, it also groups the search's and the threshold's CV folds: an id's rows in one fold"
        ),
    )


# --------------------------------------------------------------------------- model


class PreprocessingConfig(StrictModel):
    """Imputation, scaling and encoding inside the served Pipeline."""

    numeric_imputer: Literal["mean", "median", "most_frequent"] = Field(
        "median", description="fills missing numbers"
    )
    categorical_imputer: Literal["most_frequent", "constant"] = Field(
        "constant", description="fills missing categories: the most frequent, or a constant 'missing'"
    )
    scaler: Literal["standard", "minmax", "robust", "none"] = Field(
        "standard", description="scales numeric columns"
    )
    ordinal: dict[str, list[str]] = Field(
        default_factory=dict, description="categorical column -> its categories in order"
    )
    categorical_encoding: Literal["onehot", "codes", "auto"] = Field(
        "onehot",
        description=(
            "the other categorical columns: one 0/1 column per category (onehot), one column of "
            "category codes (codes: for trees, a fraction of one-hot's memory on wide data), or "
            "auto: codes for tree models, one-hot for the rest"
        ),
    )


class RatioFeature(StrictModel):
    """A derived column: numerator / denominator (a zero denominator gives a missing value)."""

    kind: Literal["ratio"] = "ratio"
    name: str = Field(description="the derived column's name")
    numerator: str = Field(description="column divided")
    denominator: str = Field(description="column divided by")


class DifferenceFeature(StrictModel):
    """A derived column: left - right."""

    kind: Literal["difference"] = "difference"
    name: str = Field(description="the derived column's name")
    left: str = Field(description="column subtracted from")
    right: str = Field(description="column subtracted")


class LogFeature(StrictModel):
    """A derived column: log1p of a column (a negative value gives a missing value)."""

    kind: Literal["log"] = "log"
    name: str = Field(description="the derived column's name")
    column: str = Field(description="column whose log1p is taken")


class BinFeature(StrictModel):
    """A derived column: the index of the bin holding a value (right-closed bins between edges)."""

    kind: Literal["bin"] = "bin"
    name: str = Field(description="the derived column's name")
    column: str = Field(description="column cut into bins")
    edges: list[float] = Field(min_length=2, description="bin edges, ascending")


class CountFeature(StrictModel):
    """A derived column: how many of the columns hold one of the values."""

    kind: Literal["count"] = "count"
    name: str = Field(description="the derived column's name")
    columns: list[str] = Field(min_length=1, description="columns whose matching values are counted")
    values: list[Any] = Field(default_factory=lambda: ["Yes", 1], description="values that count")


FeatureSpec = Annotated[
    RatioFeature | DifferenceFeature | LogFeature | BinFeature | CountFeature,
    Field(discriminator="kind"),
]


class Distribution(StrictModel):
    """A random-search distribution: ``{distribution: loguniform, low: 1e-3, high: 10}``."""

    distribution: Literal["uniform", "loguniform", "randint"] = Field(
        description="the scipy.stats distribution sampled"
    )
    low: float = Field(description="lower bound")
    high: float = Field(description="upper bound")


class AlgorithmSpec(StrictModel):
    """One candidate algorithm: any scikit-learn-compatible classifier class."""

    name: str = Field(description="the candidate's name in the results")
    estimator: str = Field(description="dotted class path, e.g. sklearn.linear_model.LogisticRegression")
    params: dict[str, Any] = Field(default_factory=dict, description="fixed constructor arguments")
    search_space: dict[str, list[Any] | Distribution] = Field(
        default_factory=dict,
        description="parameter -> values to try (a list), or a distribution for random search",
    )


class SearchConfig(StrictModel):
    """Hyperparameter search over several algorithms with k-fold CV."""

    strategy: Literal["grid", "random", "halving"] = Field(
        "grid",
        description=(
            "grid: every combination; random: n_iter per algorithm; halving: candidates race on "
            "growing row budgets (successive halving), the survivors scored on (nearly) all rows"
        ),
    )
    n_iter: int = Field(
        10, ge=1, description="random search, and halving over random candidates: candidates per algorithm"
    )
    halving_candidates: Literal["grid", "random"] = Field(
        "grid",
        description="halving: every combination of the lists (grid), or n_iter sampled per algorithm",
    )
    halving_factor: int = Field(
        3,
        ge=2,
        description="halving: each budget keeps 1/factor of the candidates and gives them factor x the rows",
    )
    halving_min_rows: int | None = Field(
        None,
        ge=1,
        description=(
            "halving: rows of the first budget; None: chosen so that the last budget uses (nearly) every "
            "training row"
        ),
    )
    halving_max_rows: int | None = Field(
        None,
        ge=1,
        description=(
            "halving: rows of the last budget at most (the survivors' race is decided on that many); "
            "None: every training row. The winner is refit on every training row either way, so on a "
            "large table the search costs what it costs on this many rows"
        ),
    )
    cv: int = Field(5, ge=2, description="cross-validation folds (stratified for classification)")
    scoring: str | None = Field(
        None, description="a scikit-learn scorer; None: the task's (roc_auc, f1_macro, neg_rmse)"
    )
    n_jobs: int = Field(-1, description="parallel jobs; -1: every CPU")
    random_state: int = Field(42, description="seed of the folds and of random search")
    algorithms: list[AlgorithmSpec] = Field(
        min_length=1, description="the candidates, all searched on the same folds"
    )

    @model_validator(mode="after")
    def _budgets_in_order(self) -> SearchConfig:
        low, high = self.halving_min_rows, self.halving_max_rows
        if low is not None and high is not None and low > high:
            raise ValueError(f"halving_min_rows ({low}) is above halving_max_rows ({high})")
        return self


def known_metrics(by_metric: dict[str, float]) -> dict[str, float]:
    """``by_metric`` as it is, when every key is a metric of some task; else a one-line error."""
    unknown = [describe_unknown_metric(name) for name in by_metric if name not in HIGHER_IS_BETTER]
    if unknown:
        raise PydanticCustomError("unknown_metric", "{detail}", {"detail": "; ".join(unknown)})
    return by_metric


class QualityGates(StrictModel):
    """What a model must meet to be registered: floors, ceilings, and a margin over a baseline.

    ``beat_baseline`` maps a metric to a margin: the model's holdout value must beat the
    trivial baseline's (training class prior / majority class, or the training mean for a
    regression) on the same holdout, strictly and by at least the margin, in the metric's
    better direction (lower for losses such as ``rmse`` or ``log_loss``). Every name must
    be a metric of some task; whether it fits the configured task is checked with the task.
    """

    min: dict[str, float] = Field(
        default_factory=dict, description="metric -> floor the holdout value must reach"
    )
    max: dict[str, float] = Field(
        default_factory=dict, description="metric -> ceiling the holdout value must not pass"
    )
    beat_baseline: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict, description="metric -> margin by which the model must beat the trivial baseline"
    )

    @field_validator("min", "max", "beat_baseline")
    @classmethod
    def _known_metrics(cls, gates: dict[str, float]) -> dict[str, float]:
        return known_metrics(gates)


class EvaluationConfig(StrictModel):
    """Holdout evaluation; for a binary task also the decision threshold the model is served with."""

    threshold: Annotated[float, Field(gt=0, lt=1)] | Literal["auto"] = Field(
        "auto", description="binary: a probability, or auto (chosen on the CV folds for threshold_objective)"
    )
    threshold_objective: Literal["f1", "balanced_accuracy", "accuracy"] = Field(
        "f1", description="what threshold: auto maximises"
    )
    threshold_max_rows: int = Field(
        200_000,
        ge=100,
        description=(
            "threshold: auto cross-validates the chosen model on at most this many training rows "
            "(a seeded sample, stratified by class)"
        ),
    )
    gates: QualityGates = Field(default_factory=QualityGates)


class TrainingParameters(StrictModel):
    """The ``parameters:`` section of configs/training.yaml."""

    task: Task | None = Field(
        None, description="binary | multiclass | regression; None: inferred from the target"
    )
    source: SourceConfig = Field(description="where the training data comes from: a file, SQL or API source")
    cleaning: CleaningConfig = Field(default_factory=CleaningConfig)
    contract: DataContract
    split: SplitConfig = Field(default_factory=SplitConfig)
    preprocessing: PreprocessingConfig = Field(default_factory=PreprocessingConfig)
    features: list[FeatureSpec] = Field(
        default_factory=list, description="derived columns, computed inside the served Pipeline"
    )
    search: SearchConfig
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)

    @model_validator(mode="after")
    def _fits_the_task(self) -> TrainingParameters:
        """A configured task's gates name its metrics; regression has no classes."""
        if self.task is None:
            return self
        gates = self.evaluation.gates
        for kind in ("min", "max", "beat_baseline"):
            wrong = [name for name in getattr(gates, kind) if name not in metric_names(self.task)]
            if wrong:
                where = f" in evaluation.gates.{kind}"
                raise ValueError("; ".join(describe_unknown_metric(name, self.task, where) for name in wrong))
        if self.task == "regression" and (self.contract.classes or self.contract.positive_class is not None):
            raise ValueError(
                "a regression has no classes: remove contract.classes and contract.positive_class"
            )
        return self


# --------------------------------------------------------------------------- deployment


class ShadowEvidence(StrictModel):
    """What a challenger's shadow run must show before it is promoted (``promotion.require_shadow``)."""

    min_requests: int = Field(
        1000, ge=1, description="requests the challenger scored in shadow, at least (in the monitored window)"
    )
    max_estimated_drop: float = Field(
        0.0,
        ge=0,
        description="how much worse than production's the challenger's estimated metric on the same "
        "live rows may be (in the metric's units; 0: not worse)",
    )


class PromotionConfig(StrictModel):
    """How a challenger must compare with the production model to replace it."""

    metric: str | None = Field(None, description="None: roc_auc, f1_macro or rmse by the model's task")
    min_improvement: float = Field(
        0.0, ge=0, description="the low end of the improvement's interval must exceed this"
    )
    confidence: float = Field(0.9, ge=0.5, lt=1, description="two-sided paired-bootstrap interval")
    bootstrap_samples: int = Field(1000, ge=100, le=100_000, description="resamples of the paired bootstrap")
    min_compared_rows: int = Field(100, ge=1, description="rows neither model trained on, at least")
    gates: QualityGates = Field(
        default_factory=QualityGates, description="what a challenger must meet to be promoted at all"
    )
    require_shadow: ShadowEvidence | None = Field(
        None,
        description="promote a challenger only with evidence from its shadow run on live traffic "
        "(recorded by the monitoring pipeline); None: no shadow needed",
    )


class ServingConfig(StrictModel):
    """How the production model is served (each model deployer uses what applies to it)."""

    workers: int = Field(1, ge=1, description="server processes")
    port: int | None = Field(None, ge=1, le=65535, description="local port; None picks a free one")
    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="local Prometheus metrics port (127.0.0.1); None picks a free one"
    )
    replicas: int = Field(1, ge=1, description="Kubernetes replicas")
    image: str = Field("tabular-ml-serving:latest", description="the serving image (Kubernetes)")
    cpu: str = Field("500m", description="CPU request and limit of a serving pod (Kubernetes)")
    memory: str = Field("1Gi", description="memory request and limit of a serving pod (Kubernetes)")
    timeout_s: int = Field(120, ge=1, description="how long to wait for the server to be ready")
    max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=1, description="largest request body the server reads; larger: 413"
    )
    contract_violations: Literal["reject", "flag"] = Field(
        "reject",
        description="a value breaking the data contract: reject (400 naming column and rule) or flag "
        "(200, listed in meta.tags.contract_violations and counted in contract_violation_total)",
    )
    request_log_dir: str = Field(
        "data/request_log",
        description="local stacks: answered rows are logged under <dir>/<model name>/ (relative: to the "
        "working directory); '' turns the request log off (on Kubernetes too)",
    )
    shadow: int | None = Field(
        None,
        ge=1,
        description="a version of the model scored in shadow: the server scores every logged row with it "
        "too and logs its prediction beside production's, never answering with it (needs the request log; "
        "local Seldon or Seldon Core deployers); None: no shadow",
    )

    def request_log_path(self, model_name: str) -> str | None:
        """The absolute folder a local server logs ``model_name``'s requests to; None when off."""
        import os

        if not self.request_log_dir.strip():
            return None
        return os.path.join(os.path.abspath(self.request_log_dir.strip()), model_name)


class DeploymentParameters(StrictModel):
    """The ``parameters:`` section of configs/deployment.yaml."""

    promotion: PromotionConfig = Field(default_factory=PromotionConfig)
    serving: ServingConfig = Field(default_factory=ServingConfig)


class RollbackParameters(StrictModel):
    """The ``parameters:`` section of a rollback run (set by ``run.py rollback``)."""

    to_version: int | None = Field(None, ge=1, description="None: the previous production version")
    serving: ServingConfig = Field(default_factory=ServingConfig)


class ServeParameters(StrictModel):
    """The parameters of ``run.py serve``: the deployment config's ``serving`` section alone."""

    serving: ServingConfig = Field(default_factory=ServingConfig)


# --------------------------------------------------------------------------- monitoring


class RequestLogSource(StrictModel):
    """The serving request log as current data: ``{type: request_log, since: 24h}``."""

    type: Literal["request_log"] = "request_log"
    since: str | None = Field(
        "24h", pattern=r"^\d+(\.\d+)?[smhd]$", description="a window such as 30m, 24h, 7d"
    )
    path: str | None = Field(
        None, description="the model's log folder; default: <serving.request_log_dir>/<model name>"
    )


CurrentDataConfig = Annotated[
    FileSource | SqlSource | ApiSource | RequestLogSource, Field(discriminator="type")
]


class MonitoringThresholds(StrictModel):
    """What raises an alert (exit code 3). Every threshold is checked; any crossing alerts."""

    drifted_columns: int = Field(1, ge=1, description="alert when at least this many feature columns drift")
    drift_share: float = Field(0.5, gt=0, le=1, description="...or when this share of them drifts")
    prediction_drift: bool = Field(
        True, description="alert when the model's output (probability, class or value) drifts"
    )
    missing_share_increase: float = Field(0.05, ge=0, le=1, description="per column, over the reference's")
    unseen_category_share: float = Field(
        0.01, ge=0, le=1, description="per column: values not in the contract"
    )
    out_of_range_share: float = Field(
        0.01, ge=0, le=1, description="per column: outside the contract's range"
    )
    metric_drop: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=lambda: {"roc_auc": 0.05, "f1_macro": 0.05, "r2": 0.1},
        description="with labels: largest allowed drop below the version's holdout metric (metrics "
        "the model's task does not have are skipped)",
    )
    estimated_drop: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=lambda: {"roc_auc": 0.05, "f1_macro": 0.05},
        description="without labels: alert when a metric's estimated interval lies wholly more than "
        "this below the holdout's value (above, for an error such as rmse); estimated metrics are "
        "binary roc_auc, f1, accuracy; multiclass f1_macro, accuracy; regression rmse, mae",
    )

    @field_validator("metric_drop", "estimated_drop")
    @classmethod
    def _known_metrics(cls, drops: dict[str, float]) -> dict[str, float]:
        return known_metrics(drops)


class RetrainConfig(StrictModel):
    """What ``on_drift: retrain`` runs: training, then deployment (gated promotion)."""

    training_config: str = Field("configs/training.yaml", description="the training run's config")
    deployment_config: str = Field("configs/deployment.yaml", description="the deployment run's config")
    overrides: list[str] = Field(default_factory=list, description="key=value overrides for the training run")
    deployment_overrides: list[str] = Field(default_factory=list, description="...and for the deployment run")


class RealizedConfig(StrictModel):
    """Realized performance: late labels joined to the predictions served, per time window."""

    window: str = Field(
        "1d",
        pattern=r"^\d+(\.\d+)?[smhd]$",
        description="the window the predictions are grouped by (30m, 1d, 7d)",
    )
    timestamp_column: str | None = Field(
        None,
        description="the current data's column of when each prediction was made (the request log's "
        "logged_at is used for it); without one, a source's rows fall in the run's window",
    )


class HistoryConfig(StrictModel):
    """Where every monitoring run's numbers are kept, one time series per model version."""

    path: str = Field(
        "data/monitoring_history",
        description="the history folder: <model>/version-<n>/ holds runs.jsonl and realized_windows.json, "
        "evidently/ the Evidently workspace `make monitoring-ui` shows",
    )
    evidently: bool = Field(True, description="also add a snapshot per run to the Evidently workspace")


class MonitoringParameters(StrictModel):
    """The ``parameters:`` section of configs/monitoring.yaml."""

    current: CurrentDataConfig = Field(
        description="the data to check: a file, SQL or API source, or the request log"
    )
    labels: SourceConfig | None = Field(
        None, description="ground truth for the current rows, joined on key_column"
    )
    key_column: str | None = Field(None, description="column joining the current rows to labels")
    sample_rows: int = Field(
        100_000, ge=100, description="drift is computed on at most this many rows per side"
    )
    sample_seed: int = Field(0, description="seed of the drift samples")
    min_current_rows: int = Field(200, ge=1, description="fewer current rows: no drift verdict")
    thresholds: MonitoringThresholds = Field(default_factory=MonitoringThresholds)
    on_drift: Literal["alert", "retrain"] = Field(
        "alert", description="on an alert: alert only, or retrain then deploy (gated promotion)"
    )
    retrain: RetrainConfig = Field(default_factory=RetrainConfig)
    realized: RealizedConfig = Field(default_factory=RealizedConfig)
    history: HistoryConfig = Field(default_factory=HistoryConfig)

    @model_validator(mode="after")
    def _labels_need_a_key(self) -> MonitoringParameters:
        if self.labels is not None and not self.key_column:
            raise ValueError("labels are joined to the current rows on key_column: set key_column")
        return self
