"""Champion/challenger: promote the newest undecided model version only if it beats production."""

from typing import Annotated

from zenml import get_step_context, step
from zenml.client import Client
from zenml.logger import get_logger

from adapters.production_stage import (
    production_version,
    record_decision,
    set_production,
    trained_versions,
)
from tabular_ml.configuration.schema import PromotionConfig
from tabular_ml.model_management.decisions import choose_challenger, decision_record
from tabular_ml.model_management.promotion import (
    PromotionDecision,
    compare_on_unseen_rows,
    decide_promotion,
    holdout_metrics,
    promotion_metric,
    shadow_refusal,
)
from tabular_ml.modelling.trained_model import TrainedModel

logger = get_logger(__name__)


def same_model_as_undone(model_name: str, challenger) -> tuple[int, str] | None:
    """(number, status) of a rejected or rolled-back version whose model artifact the challenger shares."""
    model_id = challenger.get_artifact("model").id
    for number, metadata in trained_versions(model_name):
        status = metadata.get("decision", {}).get("status")
        if number != challenger.number and status in ("rejected", "rolled_back"):
            if Client().get_model_version(model_name, number).get_artifact("model").id == model_id:
                return number, status
    return None


def _refusal(reason: str, promotion: PromotionConfig, challenger: int | None, champion) -> PromotionDecision:
    """A decision not to promote, made before any scoring."""
    logger.info("Promotion%s: %s", f" of version {challenger}" if challenger is not None else "", reason)
    return PromotionDecision(
        promote=False,
        reason=reason,
        metric=promotion.metric or "",
        challenger_version=str(challenger) if challenger is not None else None,
        champion_version=str(champion.number) if champion else None,
    )


def _score_and_decide(challenger, champion, promotion: PromotionConfig) -> PromotionDecision:
    """Both models on the challenger's holdout rows neither trained on, then the promotion rule."""
    challenger_model = TrainedModel.of_version(challenger)
    metric = promotion_metric(promotion, challenger_model.target.task)
    holdout = challenger.get_artifact("test_data").load()
    comparison = None
    if champion is not None:
        comparison = compare_on_unseen_rows(
            challenger_model,
            TrainedModel.of_version(champion),
            holdout,
            champion.get_artifact("train_data").load(),
            promotion,
        )
    decision = decide_promotion(
        str(challenger.number),
        holdout_metrics(challenger_model, holdout),
        str(champion.number) if champion is not None else None,
        comparison,
        promotion,
        metric,
        baseline=challenger.run_metadata.get("baseline"),
        task=challenger_model.target.task,
    )
    if comparison is not None:
        decision = decision.model_copy(
            update={
                "excluded_rows": comparison["excluded_rows"],
                "champion_trained_on_holdout_rows": comparison["overlap"],
            }
        )
    return decision


@step(enable_cache=False)  # the decision depends on the registry's current state, not only on inputs
def promote_model(promotion: PromotionConfig) -> Annotated[PromotionDecision, "promotion_decision"]:
    """Score challenger and champion on rows neither trained on; promote a significantly better one.

    The challenger is the newest trained version, if it has no decision yet, so a version that
    was rejected, rolled back from or superseded is never promoted by a later deployment run.
    """
    model_name = get_step_context().model.name
    challenger_number = choose_challenger(trained_versions(model_name))
    champion = production_version(model_name)
    if challenger_number is None:
        return _refusal(
            "no new trained version since the last decision; production stays as it is",
            promotion,
            None,
            champion,
        )
    challenger = Client().get_model_version(model_name, challenger_number)
    if champion is not None and champion.id == challenger.id:
        # Production in ZenML, undecided: a deployment stopped between the ZenML stage and the
        # MLflow alias. It had decided to promote; finish that (the alias follows the stage).
        reason = "a stopped deployment had moved only its ZenML stage; the promotion is finished"
        set_production(model_name, challenger, None)
        decision = PromotionDecision(
            promote=True,
            reason=reason,
            metric=promotion.metric or "",
            challenger_version=str(challenger.number),
        )
        record_decision(
            model_name,
            challenger.number,
            decision_record("promoted", reason),
            promotion=decision.model_dump(),
        )
        return decision
    repeat = same_model_as_undone(model_name, challenger)
    if repeat is not None:  # e.g. a cached retrain on the same data: a rollback must still stick
        reason = (
            f"its model is the very model of version {repeat[0]}, which was {repeat[1].replace('_', ' ')}"
        )
        decision = _refusal(reason, promotion, challenger.number, champion)
        record_decision(
            model_name,
            challenger.number,
            decision_record("rejected", reason),
            promotion=decision.model_dump(),
        )
        return decision
    if promotion.require_shadow is not None:
        # Not recorded as a decision: the challenger waits, undecided, for (more) shadow evidence.
        reason = shadow_refusal(
            challenger.run_metadata.get("shadow_evidence"),
            promotion.require_shadow,
            str(challenger.number),
            str(champion.number) if champion is not None else None,
            promotion_metric(promotion, TrainedModel.of_version(challenger).target.task),
        )
        if reason is not None:
            return _refusal(reason, promotion, challenger.number, champion)
    decision = _score_and_decide(challenger, champion, promotion)
    logger.info("Promotion of version %s: %s", challenger.number, decision.reason)
    if decision.promote:
        set_production(model_name, challenger, champion)  # both registries, or neither
    extra = {"previous_production": champion.number} if decision.promote and champion else {}
    record_decision(
        model_name,
        challenger.number,
        decision_record("promoted" if decision.promote else "rejected", decision.reason),
        promotion=decision.model_dump(),
        **extra,
    )
    return decision
