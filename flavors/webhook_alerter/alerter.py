"""The `webhook` alerter: one JSON POST per alert, retried, never raising for a failed delivery.

What each ``payload_format`` sends for ``post(message, WebhookAlerterParameters(title, fields))``:

- ``slack``: ``{"text": "*title*\\nmessage\\nkey: value\\n..."}``; ``&``, ``<`` and ``>`` are escaped
  as Slack requires (the text shows as written; Slack's ``<url|label>`` links are not available).
- ``mattermost``: ``{"text": "**title**\\nmessage\\nkey: value\\n..."}`` (Markdown, nothing escaped).
- ``teams``: ``{"text": "**title**\\n\\nmessage\\n\\nkey: value\\n\\n..."}``: the simple payload a
  Teams incoming webhook (connector) accepts; Markdown, one paragraph per part because Teams
  joins single line breaks.
- ``generic``: ``{"text": message, "title": title, "fields": {key: value, ...}}``, the message
  untouched, ``title`` null and ``fields`` ``{}`` when not given.

The title line and the field lines are left out when there are none. The webhook URL is read
from the ZenML secret ``secret_name`` (key ``url``) at every post, so a rotated URL applies at
once. It is a credential: no log line of this module or of urllib3 under it shows it (a line
may name its scheme and host). One alert takes at most ``deadline_s``, its retries included, and
no more than a short excerpt of an answer's body is ever read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import ClassVar, cast
from urllib.parse import urlsplit

import requests
from pydantic import Field
from zenml.alerter.base_alerter import BaseAlerter, BaseAlerterFlavor, BaseAlerterStepParameters
from zenml.logger import get_logger

from flavors.webhook_alerter.flavor import PayloadFormat, WebhookAlerterConfig, WebhookAlerterFlavor
from tabular_ml.configuration.redaction import mask_values
from tabular_ml.data.bounded_http import (
    Deadline,
    DeadlineExceeded,
    DeadlineRetry,
    bounded_request,
    bounded_session,
    read_body,
)

logger = get_logger(__name__)

#: Answers worth another attempt: rate limiting and server errors.
RETRY_STATUSES = frozenset({429, *range(500, 600)})
#: A ``Retry-After`` header on a 429/503 is obeyed up to this many seconds.
MAX_RETRY_AFTER_S = 30
#: Loggers that may print the request target (path and query: the secret part of the URL).
_HTTP_LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "urllib3.poolmanager", "urllib3.util.retry")
_BODY_EXCERPT_CHARS = 200
#: The most of an answer's body ever read: enough for the excerpt of a failure's answer.
_BODY_EXCERPT_BYTES = 4 * _BODY_EXCERPT_CHARS

FieldValue = str | int | float | bool | None


class WebhookAlerterParameters(BaseAlerterStepParameters):
    """Optional extras of one alert: a title and named values (e.g. metric -> value)."""

    title: str | None = None
    fields: dict[str, FieldValue] = Field(default_factory=dict)


def _field_text(value: FieldValue) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def build_payload(
    payload_format: PayloadFormat,
    message: str,
    title: str | None = None,
    fields: Mapping[str, FieldValue] | None = None,
) -> dict[str, object]:
    """The JSON body for ``payload_format`` (see the module docstring for each shape)."""
    fields = dict(fields or {})
    if payload_format == "generic":
        return {"text": message, "title": title, "fields": fields}
    if payload_format not in ("slack", "mattermost", "teams"):
        raise ValueError(f"unknown payload_format {payload_format!r}")
    heading = {"slack": "*{}*", "mattermost": "**{}**", "teams": "**{}**"}[payload_format]
    parts = ([heading.format(title)] if title else []) + [message]
    parts += [f"{key}: {_field_text(value)}" for key, value in fields.items()]
    text = ("\n\n" if payload_format == "teams" else "\n").join(parts)
    return {"text": _slack_escape(text) if payload_format == "slack" else text}


class _Redact(logging.Filter):
    """Replaces the secret parts of the webhook URL in records of the loggers it is attached to."""

    def __init__(self, url: str) -> None:
        super().__init__()
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        candidates = {url, target, parts.path, parts.query}
        # The longest first, so that a part inside another is not replaced on its own first.
        self.secrets = sorted((s for s in candidates if len(s) > 1), key=len, reverse=True)

    def redact(self, text: str) -> str:
        return mask_values(text, self.secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        redacted = self.redact(text)
        if redacted != text:
            record.msg, record.args = redacted, ()
        return True


@contextmanager
def _urllib3_logs_redacted(redact: _Redact) -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in _HTTP_LOGGERS]
    for http_logger in loggers:
        http_logger.addFilter(redact)
    try:
        yield
    finally:
        for http_logger in loggers:
            http_logger.removeFilter(redact)


def _origin(url: str) -> str:
    """The scheme and host of a webhook URL: its path and query are the secret part."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/***"


def deliver(
    url: str,
    payload: Mapping[str, object],
    *,
    timeout_s: float,
    retries: int,
    backoff_s: float,
    deadline_s: float = 60.0,
    label: str = "webhook alerter",
) -> bool:
    """POST ``payload`` as JSON to ``url``: True on a 2xx, else False with one warning. Never raises.

    5xx, 429 and connection errors are retried ``retries`` times (waits 0, 2, 4 ... times
    ``backoff_s``; a ``Retry-After`` header is obeyed up to MAX_RETRY_AFTER_S). A POST is
    retried too, so a receiver that failed after accepting may show the alert twice. Redirects
    are not followed (a webhook does not redirect; a 3xx is a failure). All of it, attempts,
    waits and reads, ends within ``deadline_s``; of an answer's body at most
    ``_BODY_EXCERPT_BYTES`` are read (for a failure's excerpt). Log lines name the status, the
    attempts and the error type, never the URL's path or query.
    """
    redact = _Redact(url)
    deadline = Deadline(deadline_s)
    retry = DeadlineRetry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        redirect=0,
        allowed_methods=None,  # every method, POST included
        status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff_s,
        retry_after_max=MAX_RETRY_AFTER_S,
        raise_on_status=False,  # the last answer is returned: its status is reported
        raise_on_redirect=False,
    )
    with bounded_session(retry) as session, _urllib3_logs_redacted(redact):
        try:
            with bounded_request(
                session,
                "POST",
                url,
                deadline=deadline,
                timeout_s=timeout_s,
                json=payload,
                allow_redirects=False,
            ) as response:
                status = response.status_code
                history = getattr(getattr(response.raw, "retries", None), "history", ()) or ()
                answer = (
                    b""
                    if 200 <= status < 300
                    else read_body(response, deadline, _BODY_EXCERPT_BYTES, truncate=True)
                )
        except DeadlineExceeded:
            logger.warning(
                "%s: alert not delivered: no complete answer from %s within deadline_s=%gs",
                label,
                _origin(url),
                deadline_s,
            )
            return False
        except requests.RequestException as exc:
            reason = getattr(exc.args[0], "reason", None) if exc.args else None
            cause = f"{type(exc).__name__}" + (f" ({type(reason).__name__})" if reason is not None else "")
            logger.warning(
                "%s: alert not delivered: no answer (%s), attempts: up to %d", label, cause, retries + 1
            )
            return False
        except Exception as exc:  # noqa: BLE001 - an alert must never fail the pipeline
            logger.warning("%s: alert not delivered: unexpected %s", label, type(exc).__name__)
            return False
    attempts = len(history) + 1
    if 200 <= status < 300:
        logger.info("%s: alert delivered (HTTP %d, %d attempt(s))", label, status, attempts)
        return True
    excerpt = " ".join(answer.decode("utf-8", errors="replace")[:_BODY_EXCERPT_CHARS].split())
    logger.warning(
        "%s: alert not delivered: HTTP %d after %d attempt(s)%s",
        label,
        status,
        attempts,
        f": {redact.redact(excerpt)}" if excerpt else "",
    )
    return False


class WebhookAlerter(BaseAlerter):
    """Posts each alert to the incoming webhook whose URL is in the ZenML secret ``secret_name``."""

    NAME: ClassVar[str] = "Webhook"
    FLAVOR: ClassVar[type[BaseAlerterFlavor]] = WebhookAlerterFlavor

    @property
    def config(self) -> WebhookAlerterConfig:
        return cast(WebhookAlerterConfig, self._config)

    @property
    def _label(self) -> str:
        return f"webhook alerter {self.name!r}"

    def webhook_url(self) -> str | None:
        """The URL from the secret, or None (with a warning naming the secret, not its value)."""
        from zenml.client import Client

        name = self.config.secret_name
        try:
            secret = Client().get_secret(name, allow_partial_name_match=False, allow_partial_id_match=False)
            url = secret.secret_values.get("url")
        except KeyError:
            logger.warning(
                "%s: no ZenML secret named %r; create it with `zenml secret create %s --url=<webhook URL>`",
                self._label,
                name,
                name,
            )
            return None
        except Exception as exc:  # noqa: BLE001 - an unreadable store must not fail the pipeline
            logger.warning(
                "%s: could not read the ZenML secret %r: %s", self._label, name, type(exc).__name__
            )
            return None
        if not url:
            logger.warning("%s: the ZenML secret %r has no key 'url'", self._label, name)
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            logger.warning("%s: the 'url' in the ZenML secret %r is not an http(s) URL", self._label, name)
            return None
        return url

    def post(self, message: str, params: BaseAlerterStepParameters | None = None) -> bool:
        """Send ``message`` (and the title and fields of WebhookAlerterParameters); True on a 2xx.

        Any failure (missing secret, refused connection, timeout, non-2xx answer) logs one
        warning and returns False: an alert that could not be sent never fails the pipeline.
        """
        extras = params if isinstance(params, WebhookAlerterParameters) else WebhookAlerterParameters()
        url = self.webhook_url()
        if url is None:
            return False
        payload = build_payload(
            self.config.payload_format, "" if message is None else str(message), extras.title, extras.fields
        )
        return deliver(
            url,
            payload,
            timeout_s=self.config.timeout_s,
            retries=self.config.retries,
            backoff_s=self.config.backoff_s,
            deadline_s=self.config.deadline_s,
            label=self._label,
        )

    def ask(self, question: str, params: BaseAlerterStepParameters | None = None) -> bool:
        """Not supported: an incoming webhook cannot carry an answer back. Always False."""
        logger.warning(
            "%s: ask() is not supported (an incoming webhook cannot receive a reply); answering False",
            self._label,
        )
        return False
