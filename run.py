#!/usr/bin/env python
"""The project's one command line.

    python run.py --config configs/training.yaml [dotted.key=value ...] [--dry-run] [--no-cache]
    python run.py --config configs/training.yaml --check-data
    python run.py draft-config --input TABLE --target COLUMN --output configs/training_NAME.yaml
    python run.py stack local

ZenML is imported only once a configuration is valid, so a bad key fails in a
fraction of a second with exit code 2.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

import click
import yaml

from tabular_ml.configuration.loading import ConfigError, apply_overrides, read_yaml, validate_section
from tabular_ml.configuration.redaction import redact
from tabular_ml.configuration.schema import (
    DeploymentParameters,
    InferenceParameters,
    MonitoringParameters,
    RollbackParameters,
    ServeParameters,
    TrainingParameters,
)

PROJECT_ROOT = Path(__file__).resolve().parent

# pipeline name -> (module, function, parameters model)
PIPELINES = {
    "training": ("pipelines.training", "training", TrainingParameters),
    "deployment": ("pipelines.deployment", "deployment", DeploymentParameters),
    "rollback": ("pipelines.deployment", "rollback", RollbackParameters),
    "serve": ("pipelines.deployment", "serve", ServeParameters),
    "monitoring": ("pipelines.monitoring", "monitoring", MonitoringParameters),
    "inference": ("pipelines.inference", "inference", InferenceParameters),
}

# The top-level keys of a ZenML run configuration (zenml.config.PipelineRunConfiguration) that
# this project's configs may use; anything else is a typo ZenML would silently ignore.
RUN_CONFIG_KEYS = {
    "run_name",
    "enable_cache",
    "enable_artifact_metadata",
    "enable_artifact_visualization",
    "enable_step_logs",
    "enable_pipeline_logs",
    "schedule",
    "build",
    "steps",
    "settings",
    "environment",
    "secrets",
    "tags",
    "extra",
    "model",
    "parameters",
    "retry",
    "substitutions",
    "cache_policy",
    "execution_mode",
}

EXAMPLES = """
\b
Pipelines (chosen by the config file's name, or --pipeline):
  training     ingest -> clean -> validate -> split -> search -> evaluate -> register
  deployment   promote the newest undecided version if it beats production -> serve production
  rollback     put the previous (or --to-version) version back -> serve it
  serve        serve production as it is (after a crash or a reboot; no promotion)
  monitoring   current data vs the production version's reference: quality, drift, performance;
               exit 3 when a threshold is crossed (on_drift: retrain -> training + deployment)
  inference    batch scoring: the production version scores new rows chunk by chunk into a sink
\b
Examples:
  python run.py --config configs/training.yaml
  python run.py --config configs/training.yaml parameters.split.test_size=0.3 --dry-run
  python run.py --config configs/training.yaml parameters.search.strategy=random parameters.search.n_iter=5
  python run.py --config configs/training.yaml --check-data   # read, clean and check the data; no pipeline
  python run.py draft-config --input data/examples/wine.csv --target cultivar \
      --output configs/training_wine.yaml                       # a training config drafted from a table
  python run.py --config configs/deployment.yaml
  python run.py predict --input data/raw/telco_churn.csv --output predictions.csv
  python run.py rollback --to-version 2
  python run.py serve              # bring production back up after a crash
  python run.py --config configs/monitoring.yaml   # exit 3 on drift
  python run.py --config configs/inference.yaml    # batch scoring with the production version
  python run.py models             # ZenML stages and MLflow aliases side by side
  python run.py stack local        # register and activate the local stack
"""


def fail(message: str) -> None:
    """Print a configuration error and exit with code 2 (the usage-error code)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def pipeline_name_for(config_path: str, explicit: str | None) -> str:
    if not Path(config_path).is_file():
        fail(f"config file not found: {config_path}")
    name = explicit or next((key for key in PIPELINES if Path(config_path).stem.startswith(key)), None)
    if name not in PIPELINES:
        fail(
            f"cannot tell which pipeline {config_path} is for; pass --pipeline with one of: "
            f"{', '.join(PIPELINES)}"
        )
    return name


def resolve_config(config_path: str, overrides: list[str], pipeline: str, no_cache: bool) -> dict:
    """The run configuration with overrides applied and parameters validated and filled in."""
    config = resolve_config_dict(read_yaml(config_path), overrides, pipeline)
    if no_cache:
        config["enable_cache"] = False
    return config


def resolve_config_dict(config: dict, overrides: list[str], pipeline: str) -> dict:
    """``config`` with overrides applied and its parameters validated and filled in."""
    config = apply_overrides(config, overrides)
    unknown = sorted(set(config) - RUN_CONFIG_KEYS)
    if unknown:
        raise ConfigError(
            f"{unknown[0]}: unknown top-level key; expected one of: {', '.join(sorted(RUN_CONFIG_KEYS))}"
        )
    parameters = validate_section(config, "parameters", PIPELINES[pipeline][2])
    config["parameters"] = parameters.model_dump(mode="json")
    return config


def run_pipeline(pipeline: str, config: dict):
    """Run a pipeline on the active ZenML stack with the resolved configuration; return the run."""

    from adapters import otel_clean_exit

    otel_clean_exit.install()

    check_model_version_exists(config)
    pipeline_object, config = prepare_for_active_stack(pipeline, config)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(config, handle, sort_keys=False)
    try:
        run = pipeline_object.with_options(config_path=handle.name)()
    except Exception as error:  # the failing step's traceback is already in ZenML's log above
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        click.echo(f"error: the {pipeline} pipeline failed: {first_line}", err=True)
        sys.exit(1)
    finally:
        os.unlink(handle.name)
    if run is not None:
        click.echo(f"Pipeline run '{run.name}' finished with status {run.status.value}.")
    return run


def check_model_version_exists(config: dict) -> None:
    """Exit 2 with one line when the config's model version (``latest``, a stage, a number) is missing.

    ZenML would otherwise fail later with "No latest stage version found for model <uuid>".
    """
    model = config.get("model") or {}
    version = model.get("version")
    if version is None or not model.get("name"):
        return
    from zenml.client import Client

    try:
        Client().get_model_version(model["name"], version)
    except KeyError:
        if str(version) == "latest":
            fail(f"model {model['name']!r} has no version yet; train it first (configs/training.yaml)")
        fail(
            f"model {model['name']!r} has no {version} version; "
            "promote one with `python run.py --config configs/deployment.yaml`"
        )


ALERT_EXIT_CODE = 3  # a monitoring threshold was crossed (1: a failure, 2: a bad configuration)


def run_monitoring(config: dict) -> None:
    """Run the monitoring pipeline, print its verdict, act on it; exit 3 when a threshold was crossed."""
    parameters = config["parameters"]
    on_drift, retrain = parameters.pop("on_drift"), parameters.pop("retrain")  # client-side actions
    run = run_pipeline("monitoring", config)
    if run is None or "schedule" in config:  # scheduled: the orchestrator runs it, the alerter speaks
        click.echo("Monitoring is scheduled; alerts go to the stack's alerter (exit codes need a direct run)")
        return
    verdict = run.steps["decide_alert"].outputs["monitoring_verdict"][0].load()
    click.echo(
        f"Monitoring of version {verdict.model_version} on {verdict.current_rows} rows: "
        + ("ALERT" if verdict.alert else "no threshold crossed")
        + (f" ({verdict.note})" if verdict.note else "")
    )
    for reason in verdict.reasons:
        click.echo(f"  - {reason}")
    if not verdict.alert:
        return
    if on_drift == "retrain":
        retrain_and_deploy(retrain, config["model"]["name"])
    sys.exit(ALERT_EXIT_CODE)


def retrain_and_deploy(retrain: dict, model_name: str) -> None:
    """``on_drift: retrain``: the training pipeline, then the deployment pipeline (gated promotion)."""
    from zenml.client import Client

    click.echo("on_drift: retrain -> training, then deployment (promotion only if significantly better)")
    for pipeline, path, overrides in (
        ("training", retrain["training_config"], retrain["overrides"]),
        ("deployment", retrain["deployment_config"], retrain["deployment_overrides"]),
    ):
        try:
            config = resolve_config(
                str(PROJECT_ROOT / path), [f"model.name={model_name}", *overrides], pipeline, False
            )
        except ConfigError as error:
            fail(str(error))
        run_pipeline(pipeline, config)
    newest = Client().list_model_versions(model_name, sort_by="desc:number", size=1).items[0]
    decision = newest.run_metadata.get("decision", {})
    click.echo(
        f"Retrained version {newest.number}: {decision.get('status', 'undecided')} "
        f"({decision.get('reason', 'no decision recorded')})"
    )


OVERRIDE = re.compile(r"^[A-Za-z_][\w.]*=")


def bind_experiment_tracker(config: dict) -> None:
    """Point the steps that track experiments at the active stack's tracker, whatever its name.

    configs/ name the local tracker (`mlflow_tracker`); the prod stack's has another name,
    and a stack without a tracker runs the steps untracked (they log to MLflow only when a
    run is active).
    """
    from zenml.client import Client

    tracker = Client().active_stack.experiment_tracker
    for name, step_config in (config.get("steps") or {}).items():
        if "experiment_tracker" not in step_config:
            continue
        if tracker is None:
            del step_config["experiment_tracker"]
            click.echo(f"note: the active stack has no experiment tracker; {name} runs untracked", err=True)
        else:
            step_config["experiment_tracker"] = tracker.name


def prepare_for_active_stack(pipeline: str, config: dict):
    """The pipeline object and its run configuration as the active stack runs it.

    The steps that track experiments use the stack's tracker, and the stack's `run_config`
    (pipeline image, pod resources) is merged in.
    """
    import importlib

    bind_experiment_tracker(config)
    module_name, function_name, _ = PIPELINES[pipeline]
    pipeline_object = getattr(importlib.import_module(module_name), function_name)
    return pipeline_object, with_stack_run_config(config, pipeline_object)


def with_stack_run_config(config: dict, pipeline_object) -> dict:
    """The run configuration plus the active stack's `run_config` (pipeline image, pod resources).

    Stacks registered from configs/stacks/ with a `run_config` (prod, aws) have one; the local
    stacks have none, so local runs are unchanged (and never build an image).
    """
    from stacks.run_settings import with_active_stack_run_config

    try:
        return with_active_stack_run_config(config, pipeline_object)
    except ConfigError as error:
        fail(str(error))


class OverridesGroup(click.Group):
    """A group whose bare ``key=value`` arguments are config overrides, not subcommand names."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["overrides"] = [arg for arg in args if OVERRIDE.match(arg)]
        rest = [arg for arg in args if arg not in ctx.meta["overrides"]]
        return super().parse_args(ctx, rest)


@click.group(cls=OverridesGroup, invoke_without_command=True, epilog=EXAMPLES)
@click.option("--config", "config_path", type=click.Path(), help="A run configuration in configs/.")
@click.option(
    "--pipeline", type=click.Choice(sorted(PIPELINES)), help="Which pipeline (default: from the file name)."
)
@click.option("--dry-run", is_flag=True, help="Print the resolved configuration and exit.")
@click.option(
    "--check-data",
    is_flag=True,
    help="Training: read, clean and check the data against the config, then exit (0 ok, 2 problems).",
)
@click.option("--data", "dry_run_data", is_flag=True, help="With --dry-run: the same as --check-data.")
@click.option("--no-cache", is_flag=True, help="Run every step, even when a cached result exists.")
@click.pass_context
def cli(
    ctx: click.Context,
    config_path: str | None,
    pipeline: str | None,
    dry_run: bool,
    check_data: bool,
    dry_run_data: bool,
    no_cache: bool,
) -> None:
    """Run the project's ZenML pipelines on the active stack.

    Any number of dotted.key=value overrides may follow; they use the YAML's own paths.
    """
    if ctx.invoked_subcommand is not None:
        return
    if config_path is None:
        click.echo(ctx.get_help())
        sys.exit(2)
    name = pipeline_name_for(config_path, pipeline)
    try:
        config = resolve_config(config_path, ctx.meta["overrides"], name, no_cache)
    except ConfigError as error:
        fail(str(error))
    if dry_run_data and not dry_run:
        fail("--data goes with --dry-run (or use --check-data)")
    if check_data or dry_run_data:
        check_training_data(config, name, config_path)
        return
    if dry_run:
        click.echo(yaml.safe_dump(redact(config), sort_keys=False), nl=False)
        return
    if name == "monitoring":
        run_monitoring(config)
    else:
        run_pipeline(name, config)


def load_source(source):
    """The data behind a source config (with its ZenML secret, if it names one); exit 2 on failure."""
    from tabular_ml.data.sources import DataSourceError, load_data

    secrets = None
    if getattr(source, "secret", None):
        from adapters.source_secrets import source_secrets

        try:
            secrets = source_secrets(source)
        except KeyError:
            fail(f"source.secret: no ZenML secret named {source.secret!r}")
    try:
        return load_data(source, secrets)
    except DataSourceError as error:
        fail(str(error))


def check_training_data(config: dict, pipeline: str, config_path: str) -> None:
    """``--check-data``: the data checked against a training config; exit 2 listing every problem."""
    from tabular_ml.drafting.check_data import check_training_data as check

    if pipeline != "training":
        fail(f"--check-data checks a training config; {config_path} is for the {pipeline} pipeline")
    parameters = TrainingParameters.model_validate(config["parameters"])
    frame = load_source(parameters.source)
    click.echo(f"read {len(frame)} rows x {frame.shape[1]} columns (the whole source)")
    report = check(frame, parameters)
    for line in report.lines:
        click.echo(line)
    for problem in report.problems:
        click.echo(f"error: {problem}", err=True)
    if not report.passed:
        click.echo(f"check-data: {len(report.problems)} problem(s) in {config_path}", err=True)
        sys.exit(2)
    click.echo(f"check-data: {config_path} fits its data")


@cli.command()
@click.option(
    "--to-version", metavar="N", help="The version to restore (default: the previous production one)."
)
@click.option(
    "--config", "config_path", type=click.Path(), help="Default: this project's configs/rollback.yaml."
)
@click.pass_context
def rollback(ctx: click.Context, to_version: str | None, config_path: str) -> None:
    """Put an earlier model version back into production and redeploy it."""
    number = None if to_version is None else version_number(to_version)
    config_path = config_path or str(PROJECT_ROOT / "configs" / "rollback.yaml")
    overrides = [
        *ctx.parent.meta.get("overrides", []),
        f"parameters.to_version={'null' if number is None else number}",
    ]
    try:
        config = resolve_config(config_path, overrides, "rollback", no_cache=True)
    except ConfigError as error:
        fail(str(error))
    if number is not None:
        check_rollback_target((config.get("model") or {}).get("name"), number)
    run_pipeline("rollback", config)


def version_number(text: str) -> int:
    """``--to-version N`` as a number >= 1, else exit 2 with one line (not click's usage block)."""
    number = int(text) if re.fullmatch(r"\s*[+-]?\d+\s*", text) else None
    if number is None or number < 1:
        got = repr(text) if number is None else number
        fail(f"--to-version must be a version number >= 1, got {got}")
    return number


def check_rollback_target(model_name: str | None, version: int) -> None:
    """Exit 2 with one line unless ``version`` of the model exists and finished training."""
    if not model_name:
        fail("the rollback configuration has no model.name")
    from zenml.client import Client

    client = Client()
    try:
        target = client.get_model_version(model_name, version)
    except KeyError:
        newest = client.list_model_versions(model_name, sort_by="desc:number", size=1).items
        has = f"its newest is {newest[0].number}" if newest else "it has no versions"
        fail(f"--to-version {version}: model {model_name!r} has no version {version} ({has})")
    if "metrics" not in target.run_metadata:
        fail(
            f"--to-version {version}: version {version} of model {model_name!r} never finished training "
            "(it has no metrics), so it cannot be served"
        )


@cli.command()
@click.option("--input", "input_path", required=True, type=click.Path(), help="CSV or Parquet rows to score.")
@click.option("--endpoint", help="Prediction URL (default: the active stack's deployed model).")
@click.option(
    "--output", "output_path", type=click.Path(), help="Write predictions here (CSV) instead of printing."
)
@click.option("--model", "model_name", default="churn_classifier", show_default=True)
def predict(input_path: str, endpoint: str | None, output_path: str | None, model_name: str) -> None:
    """Score rows through the deployed endpoint and print or write the predictions."""
    from serving.client import PredictionError, model_inputs
    from serving.client import predict as predict_remote
    from tabular_ml.configuration.schema import FileSource
    from tabular_ml.data.sources import DataSourceError, load_data

    try:
        frame = load_data(FileSource(path=input_path))
    except DataSourceError as error:
        fail(str(error))
    endpoint = endpoint or deployed_endpoint(model_name)
    try:
        inputs = model_inputs(endpoint)
        ignored = [name for name in frame.columns if name not in inputs]
        if ignored:
            click.echo(f"note: ignoring column(s) the model does not take: {', '.join(ignored)}", err=True)
        predictions = predict_remote(endpoint, frame.drop(columns=ignored))
    except PredictionError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    if output_path:
        predictions.to_csv(output_path, index=False)
        click.echo(f"Wrote {len(predictions)} predictions to {output_path}")
    else:
        click.echo(predictions.to_string(max_rows=20))


def deployed_endpoint(model_name: str) -> str:
    """The prediction URL of the running server of ``model_name`` on the active stack."""
    from zenml.client import Client

    deployer = Client().active_stack.model_deployer
    if deployer is None:
        fail("the active stack has no model deployer; pass --endpoint")
    # (find_model_server(model_name=...) matches only the model's *latest* version's servers)
    services = [s for s in deployer.find_model_server(running=True) if s.config.model_name == model_name]
    if not services:
        fail(
            f"no running server for {model_name!r} on the active stack; "
            "run `python run.py --config configs/deployment.yaml` or pass --endpoint"
        )
    return services[0].get_prediction_url()


@cli.command()
@click.option("--model", "model_name", default="churn_classifier", show_default=True)
@click.option(
    "--metric", default="roc_auc", show_default=True, help="The metrics column (from each version's metrics)."
)
def models(model_name: str, metric: str) -> None:
    """ZenML model versions and the MLflow registry's aliases side by side.

    Exits 1 when ZenML's production version and the MLflow alias `production` disagree.
    """
    from zenml.client import Client
    from zenml.utils.pagination_utils import depaginate

    from tabular_ml.model_management.registry_view import ZenmlVersion, build_rows, disagreement, render_table

    client = Client()
    try:
        model = client.get_model(model_name)
    except KeyError:
        fail(
            f"ZenML has no model {model_name!r}; train it with `python run.py --config configs/training.yaml`"
        )
    versions = [
        ZenmlVersion(version.number, version.stage, version.created, version.run_metadata)
        for version in depaginate(client.list_model_versions, model=model.id, hydrate=True)
    ]
    registry, why_not = mlflow_registry(client, model_name)
    if why_not:
        click.echo(f"note: {why_not}; MLflow aliases are shown as '-'", err=True)
    click.echo(render_table(build_rows(versions, registry, metric), metric))
    warning = disagreement(versions, registry)
    if warning:
        click.echo(warning, err=True)
        sys.exit(1)


def mlflow_registry(client, model_name: str):
    """(the MLflow registered model's aliases and versions, None) or (None, why there are none)."""
    from tabular_ml.configuration.redaction import mask_text
    from tabular_ml.model_management.registry_view import MlflowRegistry

    tracker = client.active_stack.experiment_tracker
    if tracker is None or tracker.flavor != "mlflow":
        return None, "the active stack has no MLflow experiment tracker"
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    tracker.configure_mlflow()  # the tracking URI (and credentials) of the stack's tracker
    where = mask_text(tracker.get_tracking_uri())
    mlflow_client = MlflowClient()
    try:
        registered = mlflow_client.get_registered_model(model_name)
        versions = mlflow_client.search_model_versions(f"name = '{model_name}'")
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None, f"the MLflow registry at {where} has no registered model {model_name!r}"
        return None, f"cannot read the MLflow registry at {where}: {str(error).strip().splitlines()[0]}"
    tags = {str(version.version): version.tags.get("zenml_version") for version in versions}
    return MlflowRegistry(dict(registered.aliases), tags), None


@cli.command()
@click.argument("name", default="local")
def stack(name: str) -> None:
    """Register (idempotently) and activate the stack described in configs/stacks/NAME.yaml.

    ${VAR}s in the file come from the environment or .env (see .env.example).
    """
    from stacks.register import register_stack
    from stacks.spec import STACKS_DIR, stack_file

    path = stack_file(name)
    if path is None:
        known = ", ".join(sorted(p.stem for p in STACKS_DIR.glob("*.yaml")))
        fail(f"no stack file configs/stacks/{name}.yaml; the stacks are: {known}")
    try:
        register_stack(path)
    except ConfigError as error:
        fail(str(error))
    click.echo(f"Stack '{name}' registered and active.")


@cli.command()
@click.option(
    "--config", "config_path", type=click.Path(), help="Default: this project's configs/deployment.yaml."
)
@click.pass_context
def serve(ctx: click.Context, config_path: str | None) -> None:
    """Serve the production version again (after a crash or a reboot) without a promotion.

    Uses the deployment config's model and ``serving`` section; a server already serving
    production is left as it is.
    """
    config_path = config_path or str(PROJECT_ROOT / "configs" / "deployment.yaml")
    try:
        config = read_yaml(config_path)
        config.get("parameters", {}).pop("promotion", None)
        config.get("steps", {}).pop("promote_model", None)
        config = resolve_config_dict(config, ctx.parent.meta.get("overrides", []), "serve")
    except ConfigError as error:
        fail(str(error))
    config["model"] = {**config.get("model", {}), "version": "production"}
    run_pipeline("serve", config)


@cli.command("draft-config")
@click.option("--input", "input_path", help="A CSV or Parquet file (or a glob of them).")
@click.option(
    "--source-config",
    type=click.Path(),
    help="Instead of --input: a YAML file whose `source:` (or `parameters.source:`) is a file, sql or api "
    "source, as in a training config.",
)
@click.option("--target", required=True, help="The column to predict.")
@click.option("--task", type=click.Choice(["binary", "multiclass", "regression"]), help="Default: inferred.")
@click.option("--output", "output_path", required=True, type=click.Path(), help="configs/training_NAME.yaml")
@click.option("--name", help="The model's name stem (default: NAME of training_NAME.yaml).")
@click.option("--force", is_flag=True, help="Overwrite the output file.")
def draft_config(
    input_path: str | None,
    source_config: str | None,
    target: str,
    task: str | None,
    output_path: str,
    name: str | None,
    force: bool,
) -> None:
    """Draft a complete training config from a table: contract, task, search, gates.

    The data is cleaned the way training cleans it; lines marked REVIEW in the file need a
    human decision. Check the result with --check-data before training.
    """
    from tabular_ml.drafting.draft_config import DraftError, draft_training_config
    from tabular_ml.tasks.target import TargetError

    output = Path(output_path)
    if output.exists() and not force:
        fail(f"--output {output_path} exists; pass --force to overwrite it")
    source, described = draft_source(input_path, source_config)
    frame = load_source(validated_source(source))
    stem = output.name.removesuffix(".yaml").removesuffix(".yml")
    name = name or stem.removeprefix("training").strip("_-") or "model"
    try:
        draft = draft_training_config(frame, target, source, name, task, described)
    except (DraftError, TargetError) as error:
        fail(str(error))
    try:
        resolve_config_dict(yaml.safe_load(draft.text), [], "training")
    except ConfigError as error:  # a bug of the drafting, not of the data
        click.echo(f"error: the drafted config does not validate: {error}", err=True)
        sys.exit(1)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(draft.text)
    click.echo(f"read {len(frame)} rows x {frame.shape[1]} columns from {described}")
    for line in draft.summary:
        click.echo(line)
    for column in draft.reviews:
        click.echo(f"REVIEW {column.name}: {'; '.join(column.notes)}")
    pipeline = "" if stem.startswith("training") else " --pipeline training"
    click.echo(f"wrote {output_path}; review it (lines marked REVIEW), then:")
    click.echo(f"  python run.py --config {output_path}{pipeline} --check-data")
    click.echo(f"  python run.py --config {output_path}{pipeline}")


def draft_source(input_path: str | None, source_config: str | None) -> tuple[dict, str]:
    """The source section for a drafted config (as the user wrote it) and how to name it."""
    if (input_path is None) == (source_config is None):
        fail("give the data with exactly one of --input PATH or --source-config FILE")
    if input_path is not None:
        path = Path(input_path)
        if path.is_absolute() and path.resolve().is_relative_to(PROJECT_ROOT):
            input_path = str(path.resolve().relative_to(PROJECT_ROOT))
        return {"type": "file", "path": input_path}, input_path
    try:
        document = read_yaml(source_config)
    except ConfigError as error:
        fail(str(error))
    section = document.get("source", (document.get("parameters") or {}).get("source"))
    if not isinstance(section, dict):
        fail(f"{source_config}: expected a `source:` (or `parameters.source:`) mapping")
    return section, f"the {section.get('type', '?')} source of {source_config}"


def validated_source(section: dict):
    """The source config model of a `source:` mapping; exit 2 naming the bad key."""
    from tabular_ml.drafting.draft_config import SourceSection

    try:
        return validate_section({"parameters": {"source": section}}, "parameters", SourceSection).source
    except ConfigError as error:
        fail(str(error))


if __name__ == "__main__":
    cli()
