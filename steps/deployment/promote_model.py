"""Champion/challenger: promote the newest model version only if it beats production."""

from typing import Annotated

from zenml import get_step_context, log_metadata, step
from zenml.client import Client
from zenml.enums import ModelStages
from zenml.logger import get_logger

from tabular_ml.config import DataContract, PromotionConfig
from tabular_ml.promotion import PromotionDecision, decide_promotion, holdout_metrics, shared_rows
from tabular_ml.tracking import set_mlflow_alias

logger = get_logger(__name__)


def _newest_trained_version(model_name: str):
    """The newest version whose training finished (it has metrics): a failed run's version is skipped."""
    versions = Client().list_model_versions(model_name, sort_by="desc:number", size=50)
    trained = [version for version in versions if "metrics" in version.run_metadata]
    if not trained:
        raise RuntimeError(f"model {model_name!r} has no trained version; run the training pipeline first")
    return trained[0]


def _production_version(model_name: str):
    try:
        return Client().get_model_version(model_name, ModelStages.PRODUCTION)
    except KeyError:
        return None


@step(enable_cache=False)  # the decision depends on the registry's current state, not only on inputs
def promote_model(promotion: PromotionConfig) -> Annotated[PromotionDecision, "promotion_decision"]:
    """Score challenger and champion on the challenger's holdout; promote a better challenger."""
    model_name = get_step_context().model.name
    challenger = _newest_trained_version(model_name)
    champion = _production_version(model_name)
    parameters = challenger.run_metadata["parameters"]
    contract = DataContract(**parameters["contract"])
    threshold = parameters["evaluation"]["threshold"]
    holdout = challenger.get_artifact("test_data").load()
    challenger_metrics = holdout_metrics(
        challenger.get_artifact("model").load(), holdout, contract, threshold
    )
    champion_metrics = None
    if champion is not None and champion.id != challenger.id:
        champion_metrics = holdout_metrics(
            champion.get_artifact("model").load(), holdout, contract, threshold
        )
    decision = decide_promotion(
        str(challenger.number),
        challenger_metrics,
        str(champion.number) if champion_metrics is not None else None,
        champion_metrics,
        promotion,
    )
    if champion_metrics is not None:
        overlap = shared_rows(champion.get_artifact("train_data").load(), holdout)
        decision = decision.model_copy(update={"champion_trained_on_holdout_rows": overlap})
        if overlap:
            logger.warning(
                "The champion was trained on %d of the %d holdout rows: its score is optimistic",
                overlap,
                len(holdout),
            )
    if champion is not None and champion.id == challenger.id:
        decision = decision.model_copy(
            update={"promote": False, "reason": "the newest version is already in production"}
        )
    logger.info("Promotion of version %s: %s", challenger.number, decision.reason)
    log_metadata(
        {"promotion": decision.model_dump()}, model_name=model_name, model_version=str(challenger.number)
    )
    if decision.promote:
        if champion is not None:
            log_metadata(
                {"previous_production": champion.number},
                model_name=model_name,
                model_version=str(challenger.number),
            )
        Client().update_model_version(
            challenger.model.id, challenger.id, stage=ModelStages.PRODUCTION, force=True
        )  # the old champion becomes archived
        mlflow_uri = challenger.get_artifact("model").run_metadata.get("mlflow_model_uri", "")
        if mlflow_uri.startswith(("models:/", "runs:/")):
            set_mlflow_alias(model_name, mlflow_uri, str(challenger.number))
    return decision
