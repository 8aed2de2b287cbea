"""Serve the production model version with the active stack's model deployer."""

from typing import Annotated

from zenml import get_step_context, step
from zenml.client import Client
from zenml.enums import ModelStages
from zenml.logger import get_logger

from adapters.model_deployers import DeploymentInfo, deploy, export_bundle, shadowed_bundle
from tabular_ml.configuration.schema import ServingConfig
from tabular_ml.modelling.trained_model import TrainedModel

logger = get_logger(__name__)


def _holdout(version):
    """The version's holdout rows (kept in the bundle to check the fast path); None when missing."""
    try:
        return version.get_artifact("test_data").load()
    except (KeyError, AttributeError):
        logger.warning("Model version %s has no test_data artifact: no reference rows", version.number)
        return None


def _with_shadow(client: Client, name: str, production: str, shadow: int, store: str, bundle_uri: str) -> str:
    """The production bundle with version ``shadow``'s in its ``shadow/`` folder."""
    if str(shadow) == production:
        raise RuntimeError(f"serving.shadow={shadow} is the production version itself: name a challenger")
    try:
        challenger = client.get_model_version(name, shadow)
    except KeyError:
        raise RuntimeError(f"serving.shadow={shadow}: model {name!r} has no version {shadow}") from None
    shadow_uri = export_bundle(
        store, TrainedModel.of_version(challenger), reference_rows=_holdout(challenger)
    )
    logger.info("Version %s of %s is scored in shadow beside production %s", shadow, name, production)
    return shadowed_bundle(bundle_uri, shadow_uri, str(shadow))


@step(enable_cache=False)
def deploy_model(serving: ServingConfig) -> Annotated[DeploymentInfo, "deployment"]:
    """Export the production version's bundle to the artifact store and (re)start its server.

    Runs after the promotion (or restore) step, which it follows through ``after=``.
    """
    client = Client()
    name = get_step_context().model.name
    try:
        version = client.get_model_version(name, ModelStages.PRODUCTION)
    except KeyError:
        raise RuntimeError(
            f"model {name!r} has no production version to deploy (see the promotion decision)"
        ) from None
    deployer = client.active_stack.model_deployer
    if deployer is None:
        raise RuntimeError(
            f"the active stack {client.active_stack.name!r} has no model deployer; "
            "use `python run.py stack local`"
        )
    model_artifact = version.get_artifact("model")
    store = client.active_stack.artifact_store.path
    bundle_uri = export_bundle(store, TrainedModel.of_version(version), reference_rows=_holdout(version))
    if serving.shadow is not None:
        bundle_uri = _with_shadow(client, name, str(version.number), serving.shadow, store, bundle_uri)
    return deploy(
        deployer,
        bundle_uri,
        model_artifact.run_metadata.get("mlflow_model_uri"),
        name,
        str(version.number),
        serving,
    )
