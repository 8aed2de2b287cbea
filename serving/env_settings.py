"""Reading the server's ``SERVING_*`` settings from the environment, with one-line errors."""

from __future__ import annotations

import math
import os
from collections.abc import Callable

__all__ = ["positive_float_env", "positive_int_env"]


def _positive_env[Number: (int, float)](
    name: str, default: Number, parse: Callable[[str], Number], kind: str, unit: str
) -> Number:
    """``$name`` parsed by ``parse``, ``default`` when unset or blank; a ValueError naming the
    variable, its value and ``kind`` when it is not positive and finite."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = parse(raw)
    except ValueError:
        value = parse("0")
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name}={raw!r} must be {kind}{f' ({unit})' if unit else ''}")
    return value


def positive_int_env(name: str, default: int, unit: str = "") -> int:
    """``$name`` as a positive integer, ``default`` when unset or blank.

    Raises:
        ValueError: When the variable is set but is not a positive integer.
    """
    return _positive_env(name, default, int, "a positive integer", unit)


def positive_float_env(name: str, default: float, unit: str = "") -> float:
    """``$name`` as a positive finite number, ``default`` when unset or blank.

    Raises:
        ValueError: When the variable is set but is not a positive finite number.
    """
    return _positive_env(name, default, float, "a positive number", unit)
