"""Reading the server's ``SERVING_*`` settings from the environment, with one-line errors."""

from __future__ import annotations

import math
import os

__all__ = ["positive_float_env", "positive_int_env"]


def positive_int_env(name: str, default: int, unit: str = "") -> int:
    """``$name`` as a positive integer, ``default`` when unset or blank.

    Raises:
        ValueError: When the variable is set but is not a positive integer.
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{name}={raw!r} must be a positive integer{f' ({unit})' if unit else ''}")
    return value


def positive_float_env(name: str, default: float, unit: str = "") -> float:
    """``$name`` as a positive finite number, ``default`` when unset or blank.

    Raises:
        ValueError: When the variable is set but is not a positive finite number.
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name}={raw!r} must be a positive number{f' ({unit})' if unit else ''}")
    return value
