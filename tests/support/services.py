"""Helpers for tests that need real services (database servers, a browser).

A test that needs a server skips with the reason when the server is unreachable,
so the suite runs anywhere; CI sets ``REQUIRE_SERVICES=1`` to turn that skip into
a failure, so a missing service can never pass silently.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tabular_ml.configuration.redaction import mask_text

_SERVER_NAMES = {"postgresql": "PostgreSQL", "mysql": "MySQL/MariaDB", "mariadb": "MariaDB"}
_CONNECT_TIMEOUT_S = 5


def database_url_or_skip(env_var: str, default: str) -> str:
    """Return the database URL from ``env_var`` (else ``default``) if a connection works.

    Args:
        env_var: Environment variable that may hold a SQLAlchemy URL.
        default: URL to use when the variable is not set.

    Returns:
        The URL, after ``SELECT 1`` succeeded on it.

    Skips the calling test when the server cannot be reached, or fails it
    when ``REQUIRE_SERVICES=1`` is set.
    """
    url = os.environ.get(env_var) or default
    server, masked, password, connect_args = "database", "<unparseable URL>", None, {}
    try:
        parsed = make_url(url)
        backend = parsed.get_backend_name()
        server = _SERVER_NAMES.get(backend, backend)
        masked, password = mask_text(parsed.render_as_string(hide_password=True)), parsed.password
        if backend in _SERVER_NAMES:
            connect_args = {"connect_timeout": _CONNECT_TIMEOUT_S}
        engine = sa.create_engine(url, connect_args=connect_args)
        try:
            with engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        finally:
            engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "not usable here"
        cause = getattr(exc, "orig", None) or exc
        first_line = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        if password:
            first_line = first_line.replace(str(password), "***")
        skip_or_fail(f"{server} unreachable at {masked} (from {env_var}): {first_line}")
    return url


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the calling test with ``reason``, or fail it when ``REQUIRE_SERVICES=1`` (CI)."""
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)
