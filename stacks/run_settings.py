"""A stack's ``run_config`` (the pipeline image, pod resources) merged into a pipeline run.

Pipeline configs (configs/*.yaml) say what runs; the stack file says where and with which
image and resources. run.py merges the active stack's ``run_config`` under the run's own
configuration (the run's values win), so `zenml stack set prod` changes where and how the
same `python run.py --config ...` runs, and the local stacks, which have none, are untouched.
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from stacks.spec import RunConfig, load_run_config, shown, stack_file
from tabular_ml.configuration.loading import ConfigError


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` laid over it, dictionaries merged key by key."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def merge_run_config(
    config: dict[str, Any], run_config: RunConfig, steps: Mapping[str, str] | set[str]
) -> dict[str, Any]:
    """``config`` with ``run_config`` under it; steps the pipeline does not have are left out.

    ``steps`` maps the pipeline's step invocations to their steps' names (a set: each its own).
    A stack file's entry applies to the invocation of that ID and to every invocation of the
    step of that name (``search_algorithm``: each of the training search's branches); an
    entry for the invocation itself wins over the step's.
    """
    steps = {name: name for name in steps} if isinstance(steps, set) else steps
    merged = copy.deepcopy(config)
    if run_config.settings:
        merged["settings"] = deep_merge(run_config.settings, merged.get("settings") or {})
    for invocation, step_name in steps.items():
        stack_settings: dict[str, Any] = {}
        for key in dict.fromkeys((step_name, invocation)):  # the step's entry, then the invocation's
            entry = run_config.steps.get(key)
            if entry is not None and entry.settings:
                stack_settings = deep_merge(stack_settings, entry.settings)
        if not stack_settings:
            continue
        own_steps = merged.get("steps") or {}
        own = own_steps.get(invocation) or {}
        own_steps[invocation] = {**own, "settings": deep_merge(stack_settings, own.get("settings") or {})}
        merged["steps"] = own_steps
    return merged


def check_run_config(run_config: RunConfig, stack: Any, where: str) -> None:
    """Each settings key names something of this stack, and ZenML's settings class takes its values.

    ZenML itself drops settings for a component the stack lacks and ignores unknown fields
    with a log line; a stack file should fail loudly instead.
    """
    from pydantic import ValidationError
    from zenml.stack import Stack
    from zenml.utils import settings_utils

    if not isinstance(stack, Stack):
        stack = Stack.from_model(stack)
    sections = [("run_config.settings", run_config.settings)] + [
        (f"run_config.steps.{name}.settings", step.settings) for name, step in run_config.steps.items()
    ]
    problems = []
    for prefix, settings in sections:
        for key, values in settings.items():
            if settings_utils.is_general_setting_key(key):
                settings_class = settings_utils.get_general_settings()[key]
            else:
                settings_class = stack.setting_classes.get(key)
            if settings_class is None:
                known = ", ".join(sorted({*settings_utils.get_general_settings(), *stack.setting_classes}))
                problems.append(
                    f"{where}: {prefix}.{key}: no such settings on stack {stack.name!r} ({known})"
                )
                continue
            try:
                validated = settings_class.model_validate(values)
            except ValidationError as error:
                problems.extend(
                    f"{where}: {prefix}.{key}.{'.'.join(map(str, item['loc']))}: {item['msg']}"
                    for item in error.errors()
                )
                continue
            problems.extend(
                f"{where}: {prefix}.{key}.{extra}: unknown key; expected one of: "
                f"{', '.join(settings_class.model_fields)}"
                for extra in validated.model_extra or {}
            )
            if key == "docker":
                problems.extend(
                    f"{where}: {prefix}.docker.{line}" for line in _missing_docker_files(validated)
                )
    if problems:
        raise ConfigError("\n".join(problems))


def _missing_docker_files(docker: Any) -> list[str]:
    """The files the docker settings name that are not there: ZenML reads them from the working directory."""
    named = {
        "dockerfile": docker.dockerfile,
        "build_context_root": docker.build_context_root,
        "requirements": docker.requirements if isinstance(docker.requirements, str) else None,
        "parent_image_build_config.dockerignore": getattr(
            docker.parent_image_build_config, "dockerignore", None
        ),
        "build_config.dockerignore": getattr(docker.build_config, "dockerignore", None),
    }
    return [
        f"{key}: {path} not found from {Path.cwd()} (run run.py from the project root)"
        for key, path in named.items()
        if path is not None and not Path(path).exists()
    ]


def pipeline_step_names(pipeline: Any, config: dict[str, Any]) -> dict[str, str]:
    """The step invocations ``pipeline`` has with this run configuration, each with its step's name
    (composing runs no step).

    Composed from the whole configuration, as the run will be: an entrypoint may read more
    than its parameters (the inference pipeline reads its model from the pipeline context).
    """
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(config, handle, sort_keys=False)
    try:
        probe = pipeline.with_options(config_path=handle.name)
        probe.prepare()
    finally:
        os.unlink(handle.name)
    return {invocation_id: invocation.step.name for invocation_id, invocation in probe.invocations.items()}


def with_active_stack_run_config(config: dict[str, Any], pipeline: Any) -> dict[str, Any]:
    """``config`` plus the ``run_config`` of the active stack's file, if it has one."""
    from zenml.client import Client

    stack = Client().active_stack
    path = stack_file(stack.name)
    if path is None:
        return config
    run_config = load_run_config(path)
    if run_config == RunConfig():
        return config
    check_run_config(run_config, stack, where=shown(path))
    return merge_run_config(config, run_config, pipeline_step_names(pipeline, config))
