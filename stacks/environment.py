"""``${VAR}`` placeholders in stack files, filled from the environment or a ``.env`` file.

A stack file names its infrastructure (bucket, cluster, registry, role) by placeholders, so
one file serves every account; the values live in the environment or in the project's
``.env`` (never committed; `.env.example` lists the variables). The environment wins over
``.env``, as with docker compose and most tools that read one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tabular_ml.configuration.loading import ConfigError

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def read_env_file(path: Path) -> dict[str, str]:
    """The variables of a ``.env`` file (``KEY=value`` lines, quotes and ``export`` allowed); {} if absent."""
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    # interpolate=False: a value is taken as written; `${...}` has a meaning only in stack files
    return {key: value for key, value in dotenv_values(path, interpolate=False).items() if value is not None}


def variables(env_file: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``.env``'s variables overlaid with the process environment."""
    return {**read_env_file(env_file), **(os.environ if environ is None else environ)}


def placeholders(data: Any) -> list[str]:
    """The variable names ``data`` (nested dicts, lists, strings) refers to, in order of first use."""
    return list(dict.fromkeys(name for text in _strings(data) for name in PLACEHOLDER.findall(text)))


def substitute(data: Any, values: Mapping[str, str], where: str, env_file: str) -> Any:
    """``data`` with every ``${VAR}`` replaced; one error line per variable unset or empty."""
    missing = [name for name in placeholders(data) if not values.get(name)]
    if missing:
        raise ConfigError(
            "\n".join(
                f"{where}: ${{{name}}} is not set; export it or add it to {env_file} (see .env.example)"
                for name in missing
            )
        )
    return _replace(data, lambda text: PLACEHOLDER.sub(lambda match: values[match.group(1)], text))


def _strings(data: Any):
    """Every string value in ``data`` (keys are names, not values: never substituted)."""
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for value in data.values():
            yield from _strings(value)
    elif isinstance(data, list):
        for item in data:
            yield from _strings(item)


def _replace(data: Any, replace: Any) -> Any:
    """``data`` rebuilt with ``replace`` applied to every string value."""
    if isinstance(data, str):
        return replace(data)
    if isinstance(data, dict):
        return {key: _replace(value, replace) for key, value in data.items()}
    if isinstance(data, list):
        return [_replace(item, replace) for item in data]
    return data
