#!/usr/bin/env python
"""The project's one command line: it parses, loads a config, runs a pipeline and prints.

ZenML is imported only once a configuration is valid, so a bad key fails in a fraction of a
second with exit code 2. Config loading: tabular_ml/configuration/run_config.py; registry and
endpoint lookups: adapters/; retrain on drift: the monitoring pipeline's last step.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

import click
import yaml

from tabular_ml.configuration import run_config
from tabular_ml.configuration.cli_examples import EXAMPLES
from tabular_ml.configuration.loading import ConfigError
from tabular_ml.configuration.redaction import redact
from tabular_ml.configuration.schema import TrainingParameters
from tabular_ml.monitoring.outcome import monitoring_lines

PROJECT_ROOT = Path(__file__).resolve().parent
MONITORING_OUTPUTS = (("decide_alert", "monitoring_verdict"), ("retrain_on_drift", "retrain_outcome"))
SCHEDULED = "Monitoring is scheduled; alerts go to the stack's alerter (exit codes need a direct run)"
ALERT_EXIT_CODE = 3  # a monitoring threshold was crossed (1: a failure, 2: a bad configuration)
OVERRIDE = re.compile(r"^[A-Za-z_][\w.]*=")


def prepare_for_active_stack(pipeline: str, config: dict):
    """The pipeline object and its run configuration with the active stack's tracker and `run_config`."""
    import pipelines  # each pipeline by its name
    from adapters.experiment_tracker import bind_experiment_tracker, create_tracking_database
    from stacks.run_settings import with_active_stack_run_config

    create_tracking_database()
    for name in bind_experiment_tracker(config):
        click.echo(f"note: the active stack has no experiment tracker; {name} runs untracked", err=True)
    pipeline_object = getattr(pipelines, pipeline)
    return pipeline_object, with_active_stack_run_config(config, pipeline_object)


def run_pipeline(pipeline: str, config: dict):
    """The one runner: run a pipeline on the active ZenML stack with the resolved configuration."""
    from adapters import otel_clean_exit
    from adapters.model_versions import check_model_version_exists

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


class OverridesGroup(click.Group):
    """Bare ``key=value`` arguments are config overrides; a ``ConfigError`` is a usage error (exit 2)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["overrides"] = [arg for arg in args if OVERRIDE.match(arg)]
        return super().parse_args(ctx, [arg for arg in args if arg not in ctx.meta["overrides"]])

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ConfigError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(2)


@click.group(cls=OverridesGroup, invoke_without_command=True, epilog=EXAMPLES)
@click.option("--config", "config_path", type=click.Path(), help="A run configuration in configs/.")
@click.option(
    "--pipeline",
    type=click.Choice(sorted(run_config.PIPELINE_PARAMETERS)),
    help="Which pipeline (default: from the file name).",
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
def cli(ctx, config_path, pipeline, dry_run, check_data, dry_run_data, no_cache) -> None:
    """Run the project's ZenML pipelines on the active stack.

    Any number of dotted.key=value overrides may follow; they use the YAML's own paths.
    """
    if ctx.invoked_subcommand is not None:
        return
    if config_path is None:
        click.echo(ctx.get_help())
        sys.exit(2)
    name = run_config.pipeline_for(config_path, pipeline)
    config = run_config.resolve_config(config_path, ctx.meta["overrides"], name, no_cache)
    if dry_run_data and not dry_run:
        raise ConfigError("--data goes with --dry-run (or use --check-data)")
    if check_data or dry_run_data:
        check_training_data(config, name, config_path)
    elif dry_run:
        click.echo(yaml.safe_dump(redact(config), sort_keys=False), nl=False)
    elif name != "monitoring":
        run_pipeline(name, config)
    else:  # a bad retrain config fails before monitoring runs; exit 3 when a threshold was crossed
        run_config.check_retrain_runs(config, PROJECT_ROOT)
        run = run_pipeline(name, config)
        if run is None or "schedule" in config:  # scheduled: the orchestrator runs it, the alerter speaks
            click.echo(SCHEDULED)
            return
        verdict, outcome = (run.steps[step].outputs[output][0].load() for step, output in MONITORING_OUTPUTS)
        click.echo("\n".join(monitoring_lines(verdict, outcome)))
        sys.exit(ALERT_EXIT_CODE if verdict.alert else 0)


def check_training_data(config: dict, pipeline: str, config_path: str) -> None:
    """``--check-data``: the data checked against a training config; exit 2 listing every problem."""
    from adapters.source_secrets import load_source_data
    from tabular_ml.drafting.check_data import check_training_data as check

    if pipeline != "training":
        raise ConfigError(
            f"--check-data checks a training config; {config_path} is for the {pipeline} pipeline"
        )
    parameters = TrainingParameters.model_validate(config["parameters"])
    frame = load_source_data(parameters.source)
    report = check(frame, parameters)
    click.echo(f"read {len(frame)} rows x {frame.shape[1]} columns (the whole source)")
    click.echo("\n".join(report.lines))
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
    from adapters.model_versions import check_rollback_target

    number = None if to_version is None else run_config.version_number(to_version)
    config_path = config_path or str(PROJECT_ROOT / "configs" / "rollback.yaml")
    overrides = [*ctx.parent.meta.get("overrides", []), f"parameters.to_version={number or 'null'}"]
    config = run_config.resolve_config(config_path, overrides, "rollback", no_cache=True)
    check_rollback_target((config.get("model") or {}).get("name"), number)
    run_pipeline("rollback", config)


@cli.command()
@click.option("--input", "input_path", required=True, type=click.Path(), help="CSV or Parquet rows to score.")
@click.option("--endpoint", help="Prediction URL (default: the active stack's deployed model).")
@click.option(
    "--output", "output_path", type=click.Path(), help="Write predictions here (CSV) instead of printing."
)
@click.option("--model", "model_name", default="churn_classifier", show_default=True)
def predict(input_path: str, endpoint: str | None, output_path: str | None, model_name: str) -> None:
    """Score rows through the deployed endpoint and print or write the predictions."""
    from adapters.model_endpoint import deployed_endpoint, score_through_endpoint
    from adapters.source_secrets import load_source_data
    from serving.client import PredictionError
    from tabular_ml.configuration.schema import FileSource

    frame = load_source_data(FileSource(path=input_path))
    try:
        predictions, ignored = score_through_endpoint(endpoint or deployed_endpoint(model_name), frame)
    except PredictionError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    if ignored:
        click.echo(f"note: ignoring column(s) the model does not take: {', '.join(ignored)}", err=True)
    if output_path:
        predictions.to_csv(output_path, index=False)
        click.echo(f"Wrote {len(predictions)} predictions to {output_path}")
    else:
        click.echo(predictions.to_string(max_rows=20))


@cli.command()
@click.option("--model", "model_name", default="churn_classifier", show_default=True)
@click.option(
    "--metric", default="roc_auc", show_default=True, help="The metrics column (from each version's metrics)."
)
def models(model_name: str, metric: str) -> None:
    """ZenML model versions and the MLflow registry's aliases side by side.

    Exits 1 when ZenML's production version and the MLflow alias `production` disagree.
    """
    from adapters import registry_view
    from tabular_ml.model_management.registry_view import build_rows, disagreement, render_table

    versions = registry_view.zenml_versions(model_name)
    registry, why_not = registry_view.mlflow_registry(model_name)
    if why_not:
        click.echo(f"note: {why_not}; MLflow aliases are shown as '-'", err=True)
    click.echo(render_table(build_rows(versions, registry, metric), metric))
    warning = disagreement(versions, registry)
    if warning:
        click.echo(warning, err=True)
        sys.exit(1)


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
        raise ConfigError(f"no stack file configs/stacks/{name}.yaml; the stacks are: {known}")
    register_stack(path)
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
    config_path = config_path or PROJECT_ROOT / "configs" / "deployment.yaml"
    overrides = ctx.parent.meta.get("overrides", [])
    run_pipeline("serve", run_config.resolve_serve_config(config_path, overrides))


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
def draft_config(input_path, source_config, target, task, output_path, name, force) -> None:
    """Draft a complete training config from a table: contract, task, search, gates.

    The data is cleaned the way training cleans it; lines marked REVIEW in the file need a
    human decision. Check the result with --check-data before training.
    """
    from adapters.source_secrets import load_source_data
    from tabular_ml.drafting.draft_config import DraftError
    from tabular_ml.drafting.draft_file import DraftInvalid, draft_source, validated_source, write_draft
    from tabular_ml.tasks.target import TargetError

    if Path(output_path).exists() and not force:
        raise ConfigError(f"--output {output_path} exists; pass --force to overwrite it")
    source, described = draft_source(input_path, source_config, PROJECT_ROOT)
    frame = load_source_data(validated_source(source))
    try:
        click.echo("\n".join(write_draft(frame, target, source, described, Path(output_path), name, task)))
    except (DraftError, TargetError) as error:
        raise ConfigError(str(error)) from None
    except DraftInvalid as error:  # a bug of the drafting, not of the data
        click.echo(f"error: {error}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    cli()
