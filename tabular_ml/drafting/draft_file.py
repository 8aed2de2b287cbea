"""`draft-config`'s file: where its table comes from (`--input` or `--source-config`), the file written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from tabular_ml.configuration.loading import ConfigError, read_yaml, validate_section
from tabular_ml.configuration.run_config import resolve_config_dict
from tabular_ml.configuration.schema import SourceConfig
from tabular_ml.drafting.draft_config import SourceSection, draft_training_config


def draft_source(
    input_path: str | None, source_config: str | None, project_root: Path
) -> tuple[dict[str, Any], str]:
    """The source section for a drafted config (as the user wrote it) and how to name it.

    A path inside the project is written relative to it, so the drafted config travels.

    Raises:
        ConfigError: Neither or both given, or the source config has no ``source:`` mapping.
    """
    if (input_path is None) == (source_config is None):
        raise ConfigError("give the data with exactly one of --input PATH or --source-config FILE")
    if input_path is not None:
        path = Path(input_path)
        if path.is_absolute() and path.resolve().is_relative_to(project_root):
            input_path = str(path.resolve().relative_to(project_root))
        return {"type": "file", "path": input_path}, input_path
    document = read_yaml(source_config)
    section = document.get("source", (document.get("parameters") or {}).get("source"))
    if not isinstance(section, dict):
        raise ConfigError(f"{source_config}: expected a `source:` (or `parameters.source:`) mapping")
    return section, f"the {section.get('type', '?')} source of {source_config}"


def validated_source(section: dict[str, Any]) -> SourceConfig:
    """The source config model of a ``source:`` mapping.

    Raises:
        ConfigError: Naming the bad key.
    """
    return validate_section({"parameters": {"source": section}}, "parameters", SourceSection).source


class DraftInvalid(RuntimeError):
    """The drafted config does not validate: a bug of the drafting, not of the data."""


def write_draft(
    frame: pd.DataFrame,
    target: str,
    source: dict[str, Any],
    described: str,
    output: Path,
    name: str | None = None,
    task: str | None = None,
) -> list[str]:
    """Draft a training config from ``frame``, check it validates, write it; return what to tell the user.

    The model's name defaults to NAME of ``training_NAME.yaml``.

    Raises:
        DraftError: The data cannot be drafted (see ``draft_training_config``).
        TargetError: The target column cannot be predicted as asked.
        DraftInvalid: The drafted config does not validate.
    """
    stem = output.name.removesuffix(".yaml").removesuffix(".yml")
    name = name or stem.removeprefix("training").strip("_-") or "model"
    draft = draft_training_config(frame, target, source, name, task, described)
    try:
        resolve_config_dict(yaml.safe_load(draft.text), [], "training")
    except ConfigError as error:
        raise DraftInvalid(f"the drafted config does not validate: {error}") from None
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(draft.text)
    pipeline = "" if stem.startswith("training") else " --pipeline training"
    return [
        f"read {len(frame)} rows x {frame.shape[1]} columns from {described}",
        *draft.summary,
        *(f"REVIEW {column.name}: {'; '.join(column.notes)}" for column in draft.reviews),
        f"wrote {output}; review it (lines marked REVIEW), then:",
        f"  python run.py --config {output}{pipeline} --check-data",
        f"  python run.py --config {output}{pipeline}",
    ]
