"""Deployment and rollback pipelines: wiring only (steps do the work)."""

from zenml import pipeline

from steps.deployment import deploy_model, promote_model, restore_production
from tabular_ml.configuration.schema import PromotionConfig, ServingConfig


@pipeline(enable_cache=False)
def deployment(promotion: PromotionConfig, serving: ServingConfig) -> None:
    """Promote the newest model version if it beats production, then serve production."""
    promote_model(promotion=promotion)
    deploy_model(serving=serving, after="promote_model")


@pipeline(enable_cache=False)
def rollback(to_version: int | None, serving: ServingConfig) -> None:
    """Put an earlier version (default: the previous production one) back and serve it."""
    restore_production(to_version=to_version)
    deploy_model(serving=serving, after="restore_production")


@pipeline(enable_cache=False)
def serve(serving: ServingConfig) -> None:
    """Serve the production version as it is, without a promotion: after a crash or a reboot."""
    deploy_model(serving=serving)
