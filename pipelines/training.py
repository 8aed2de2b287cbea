"""Training pipeline: wiring only (steps do the work)."""

from zenml import pipeline
from zenml.config import CachePolicy

from adapters.git_revision import library_fingerprint
from adapters.model_versions import discard_model_version
from steps.data import clean_data, ingest_data, split_data, validate_data
from steps.training import evaluate_model, record_model_version, search_algorithm, train_model
from tabular_ml.configuration.schema import (
    CleaningConfig,
    DataContract,
    EvaluationConfig,
    FeatureSpec,
    PreprocessingConfig,
    SearchConfig,
    SourceConfig,
    SplitConfig,
)
from tabular_ml.modelling.search import algorithm_search, check_algorithm_names
from tabular_ml.tasks.target import Task


# Cache keys: a step's inputs count by their content hash where the materializer gives one
# (the DataFrames: materializers/dataframe_materializer.py), by artifact ID otherwise; plus
# the library code. ingest_data always runs, so changed data never reuses a step and
# unchanged data reuses everything after ingest_data. A failed run deletes its model version.
# The search fans out: one search_algorithm step per configured algorithm (the parameters are
# known when this function runs, so the branches are drawn from the config), each depending
# only on the split, so an orchestrator runs them in parallel (Kubernetes: a pod each, with
# the stack file's resources); train_model waits for all of them and picks the winner.
@pipeline(
    cache_policy=CachePolicy(
        include_artifact_values=True, include_artifact_ids=True, cache_func=library_fingerprint
    ),
    on_failure=discard_model_version,
)
def training(
    source: SourceConfig,
    cleaning: CleaningConfig,
    contract: DataContract,
    split: SplitConfig,
    preprocessing: PreprocessingConfig,
    features: list[FeatureSpec],
    search: SearchConfig,
    evaluation: EvaluationConfig,
    task: Task | None = None,
) -> None:
    """Ingest -> clean -> validate (and resolve the task) -> split -> search (per algorithm) -> pick
    the winner -> evaluate -> register."""
    raw = ingest_data(source=source)
    cleaned = clean_data(raw, cleaning=cleaning, contract=contract, id_column=split.id_column)
    _, target = validate_data(cleaned, contract=contract, task=task)
    train, test = split_data(cleaned, target, contract=contract, split=split)
    searches = [
        search_algorithm(
            train,
            target,
            contract=contract,
            preprocessing=preprocessing,
            features=features,
            search=algorithm_search(search, name),
            id_column=split.id_column,
            id=f"search_{name}",
        )
        for name in check_algorithm_names(search)
    ]
    model, search_results, threshold = train_model(
        train,
        target,
        searches,
        contract=contract,
        preprocessing=preprocessing,
        features=features,
        search=search,
        evaluation=evaluation,
        id_column=split.id_column,
    )
    report = evaluate_model(
        model, test, train, search_results, target, threshold, contract=contract, evaluation=evaluation
    )
    record_model_version(report, target, threshold, train, test, cleaned)
