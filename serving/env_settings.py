"""Reading the server's ``SERVING_*`` settings from the environment, with one-line errors."""

from __future__ import annotations

import os

__all__ = ["positive_int_env"]


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
