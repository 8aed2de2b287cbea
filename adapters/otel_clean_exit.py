"""End a process that ran a ZenML pipeline without a traceback at exit.

Why: ZenML 0.98's OpenTelemetry log store builds an OpenTelemetry ``LoggingHandler``
only to translate records. It is never attached to a logger, but every handler is
registered in ``logging``'s module-level handler list, and at interpreter exit
``logging.shutdown()`` calls its ``flush()``, which starts a thread - forbidden
during shutdown on Python 3.12 ("can't create new thread at interpreter shutdown").

The fix flushes those handlers' log providers synchronously while threads are
still allowed (so no log record is lost) and tells ``logging.shutdown()`` not to
flush them again (``flushOnClose``, the flag ``logging`` itself honours).
"""

from __future__ import annotations

import atexit
import logging


def _otel_handlers() -> list[logging.Handler]:
    handlers = [ref() for ref in list(logging._handlerList)]  # noqa: SLF001 - no public list exists
    return [h for h in handlers if h is not None and type(h).__module__.startswith("opentelemetry.")]


def end_cleanly() -> None:
    """Flush OpenTelemetry log handlers now and keep ``logging.shutdown`` from re-flushing them."""
    for handler in _otel_handlers():
        provider = getattr(handler, "_logger_provider", None)
        force_flush = getattr(provider, "force_flush", None)
        if callable(force_flush):
            force_flush()
        handler.flushOnClose = False


def install() -> None:
    """Run :func:`end_cleanly` at exit, before ``logging``'s own exit hook (atexit runs LIFO)."""
    atexit.register(end_cleanly)
