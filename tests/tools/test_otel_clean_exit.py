"""clean_exit: an unattached OpenTelemetry LoggingHandler must not crash interpreter shutdown."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.support.paths import PROJECT_ROOT

pytestmark = pytest.mark.tools

THREAD_ERROR = "can't create new thread at interpreter shutdown"

# What ZenML's OpenTelemetry log store does: build a handler (never attached to a logger) and exit.
SCRIPT = textwrap.dedent(
    """
    import logging
    import sys

    from opentelemetry.instrumentation.logging.handler import LoggingHandler
    from opentelemetry.sdk._logs import LoggerProvider

    if sys.argv[1] == "install":
        from adapters import otel_clean_exit

        otel_clean_exit.install()

    provider = LoggerProvider()
    handler = LoggingHandler(logger_provider=provider)
    handler.emit(logging.LogRecord("t", logging.INFO, "script.py", 1, "hello", None, None))
    print("done")
    """
)


def run_script(mode: str, script: str = SCRIPT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.run(
        [sys.executable, "-c", script, mode],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_clean_exit_the_shutdown_traceback_appears():
    result = run_script("plain")
    assert result.stdout == "done\n"
    assert THREAD_ERROR in result.stderr
    assert "logging/__init__.py" in result.stderr


def test_with_clean_exit_stderr_is_clean():
    result = run_script("install")
    assert result.returncode == 0
    assert result.stdout == "done\n"
    assert result.stderr == ""


def test_end_cleanly_flushes_and_disables_flush_on_close():
    import logging

    from opentelemetry.instrumentation.logging.handler import LoggingHandler

    from adapters import otel_clean_exit

    class Provider:
        flushed = 0

        def force_flush(self) -> bool:
            Provider.flushed += 1
            return True

    handler = LoggingHandler(logger_provider=Provider())
    plain = logging.StreamHandler()
    try:
        assert handler in otel_clean_exit._otel_handlers()
        assert plain not in otel_clean_exit._otel_handlers()
        otel_clean_exit.end_cleanly()
        assert Provider.flushed == 1
        assert handler.flushOnClose is False
        assert getattr(plain, "flushOnClose", True) is True
    finally:
        handler.close()
        plain.close()


def test_installing_twice_is_harmless():
    result = run_script(
        "install",
        SCRIPT.replace(
            "otel_clean_exit.install()", "otel_clean_exit.install()\n    otel_clean_exit.install()"
        ),
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "done\n", "")
