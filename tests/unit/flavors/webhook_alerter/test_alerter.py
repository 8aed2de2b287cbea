"""The `webhook` alerter against a real HTTP server on 127.0.0.1 and the throwaway ZenML store.

The webhook URL lives in a real ZenML secret (tests/conftest.py's store); each test posts
through WebhookAlerter.post exactly as a pipeline would and checks what arrived."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from uuid import uuid4

import pytest

from flavors.webhook_alerter.alerter import WebhookAlerter, WebhookAlerterParameters, build_payload
from flavors.webhook_alerter.flavor import WebhookAlerterConfig, WebhookAlerterFlavor
from tests.support.processes import free_port
from tests.support.slow_http_server import SECRET_PATH as SLOW_PATH
from tests.support.slow_http_server import slow_server
from tests.support.webhook_server import SECRET_PATH, webhook_server

TOKEN = SECRET_PATH.rsplit("/", 1)[-1]
SLOW_TOKEN = SLOW_PATH.rsplit("/", 1)[-1]


PARAMS = WebhookAlerterParameters(
    title="Drift detected", fields={"column": "tenure", "share": 0.25, "ok": False}
)


@pytest.fixture
def secret():
    """A function making a ZenML secret holding ``url`` (deleted afterwards); returns its name."""
    from zenml.client import Client

    names = []

    def make(**values: str) -> str:
        name = f"hook_{uuid4().hex[:10]}"
        Client().create_secret(name, values=values)
        names.append(name)
        return name

    yield make
    for name in names:
        Client().delete_secret(name)


def alerter(secret_name: str, **config) -> WebhookAlerter:
    now = datetime.now()
    return WebhookAlerter(
        name="team_alerts",
        id=uuid4(),
        config=WebhookAlerterConfig(secret_name=secret_name, **{"backoff_s": 0.01, **config}),
        flavor="webhook",
        type=WebhookAlerterFlavor().type,
        user=None,
        created=now,
        updated=now,
    )


def all_log_text(caplog) -> str:
    return "\n".join(record.getMessage() for record in caplog.records)


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.DEBUG)  # every logger, urllib3's debug lines included
    return caplog


EXPECTED_BODIES = {
    "slack": {"text": "*Drift detected*\ntenure moved <2x> & more\ncolumn: tenure\nshare: 0.25\nok: false"},
    "mattermost": {
        "text": "**Drift detected**\ntenure moved <2x> & more\ncolumn: tenure\nshare: 0.25\nok: false"
    },
    "teams": {
        "text": "**Drift detected**\n\ntenure moved <2x> & more\n\ncolumn: tenure\n\nshare: 0.25\n\nok: false"
    },
    "generic": {
        "text": "tenure moved <2x> & more",
        "title": "Drift detected",
        "fields": {"column": "tenure", "share": 0.25, "ok": False},
    },
}


@pytest.mark.parametrize("payload_format", sorted(EXPECTED_BODIES))
def test_each_payload_format_sends_its_exact_body(payload_format, secret, logs):
    with webhook_server() as server:
        hook = alerter(secret(url=server.url), payload_format=payload_format)
        assert hook.post("tenure moved <2x> & more", PARAMS) is True
    (request,) = server.requests
    expected = EXPECTED_BODIES[payload_format]
    if payload_format == "slack":  # Slack wants &, < and > escaped in text
        expected = {"text": expected["text"].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")}
    assert request.body == expected
    assert request.path == SECRET_PATH
    assert request.headers["Content-Type"] == "application/json"
    assert "alert delivered (HTTP 200, 1 attempt(s))" in all_log_text(logs)


@pytest.mark.parametrize(
    ("payload_format", "expected"),
    [
        ("slack", {"text": "training finished"}),
        ("mattermost", {"text": "training finished"}),
        ("teams", {"text": "training finished"}),
        ("generic", {"text": "training finished", "title": None, "fields": {}}),
    ],
)
def test_a_bare_message(payload_format, expected, secret):
    with webhook_server() as server:
        assert (
            alerter(secret(url=server.url), payload_format=payload_format).post("training finished") is True
        )
    assert server.bodies == [expected]


def test_build_payload_needs_a_known_format():
    with pytest.raises(ValueError, match="unknown payload_format 'discord'"):
        build_payload("discord", "x")  # type: ignore[arg-type]


def test_other_alerters_parameters_are_ignored(secret):
    from zenml.alerter.base_alerter import BaseAlerterStepParameters

    with webhook_server() as server:
        assert alerter(secret(url=server.url)).post("hi", BaseAlerterStepParameters()) is True
    assert server.bodies == [{"text": "hi"}]


def test_a_503_is_retried_until_a_200(secret, logs):
    with webhook_server((503, {}, b"busy")) as server:
        assert alerter(secret(url=server.url), payload_format="generic").post("m") is True
    assert server.bodies == [{"text": "m", "title": None, "fields": {}}] * 2
    assert "alert delivered (HTTP 200, 2 attempt(s))" in all_log_text(logs)
    assert TOKEN not in logs.text and TOKEN not in all_log_text(logs)


def test_a_429_obeys_retry_after(secret):
    with webhook_server((429, {"Retry-After": "1"}, b"rate_limited")) as server:
        hook = alerter(secret(url=server.url))  # before the clock: the first secret sets up ZenML's store
        started = time.monotonic()
        assert hook.post("m") is True
        waited = time.monotonic() - started
    assert len(server.requests) == 2
    assert 1.0 <= waited < 5


def test_server_errors_until_retries_run_out(secret, logs):
    with webhook_server(*[(500, {}, b"oops")] * 3, (200, {}, b"ok")) as server:
        assert alerter(secret(url=server.url), retries=2).post("m") is False
    assert len(server.requests) == 3  # the first attempt and two retries; the 200 never asked for
    (warning,) = [r for r in logs.records if r.levelno == logging.WARNING]
    assert (
        warning.getMessage()
        == "webhook alerter 'team_alerts': alert not delivered: HTTP 500 after 3 attempt(s): oops"
    )


def test_a_404_is_false_at_once_without_raising(secret, logs):
    with webhook_server((404, {}, b"no_service")) as server:
        assert alerter(secret(url=server.url)).post("m") is False
    assert len(server.requests) == 1  # a 4xx other than 429 is not retried
    warnings = [r.getMessage() for r in logs.records if r.levelno == logging.WARNING]
    assert warnings == [
        "webhook alerter 'team_alerts': alert not delivered: HTTP 404 after 1 attempt(s): no_service"
    ]
    assert TOKEN not in logs.text


def test_a_redirect_is_not_followed(secret):
    with webhook_server((302, {"Location": "http://127.0.0.1:9/elsewhere"}, b"")) as server:
        assert alerter(secret(url=server.url)).post("m") is False
    assert len(server.requests) == 1


def test_nothing_listening_is_false_and_the_url_never_logged(secret, logs):
    port = free_port()  # free a moment ago: connections are refused
    url = f"http://127.0.0.1:{port}{SECRET_PATH}?sig=QuErYsEcReT"
    started = time.monotonic()
    assert alerter(secret(url=url), retries=2).post("m") is False
    assert time.monotonic() - started < 5
    messages = [r.getMessage() for r in logs.records]
    warnings = [r.getMessage() for r in logs.records if r.name.startswith("flavors")]
    assert warnings == [
        "webhook alerter 'team_alerts': alert not delivered: no answer "
        "(ConnectionError (NewConnectionError)), attempts: up to 3"
    ]
    # urllib3 warns about each retry with the request target: it is there, redacted.
    retry_lines = [m for m in messages if m.startswith("Retrying")]
    assert len(retry_lines) == 2 and all("***" in m for m in retry_lines)
    for text in (logs.text, "\n".join(messages)):
        assert TOKEN not in text and "QuErYsEcReT" not in text and url not in text


def test_a_slow_server_times_out(secret, logs):
    with webhook_server() as quick:  # the ZenML store's first use is slow: not inside the timed window
        assert alerter(secret(url=quick.url)).post("warm-up") is True
    with webhook_server(delay_s=6) as server:
        started = time.monotonic()
        assert alerter(secret(url=server.url), timeout_s=0.3, retries=0).post("m") is False
        assert time.monotonic() - started < 4  # long before the answer, even on a loaded machine
    assert "ReadTimeout" in all_log_text(logs)
    assert TOKEN not in logs.text


def test_a_missing_secret_is_false_and_named(logs):
    assert alerter("no_such_secret_anywhere").post("m") is False
    assert (
        "webhook alerter 'team_alerts': no ZenML secret named 'no_such_secret_anywhere'; "
        "create it with `zenml secret create no_such_secret_anywhere --url=<webhook URL>`"
    ) in all_log_text(logs)


def test_a_secret_name_is_matched_exactly(secret, logs):
    """ZenML's get_secret matches name fragments by default: 'hook' must not find 'hook_1234'."""
    with webhook_server() as server:
        name = secret(url=server.url)
        assert alerter(name[:-2]).post("m") is False
    assert server.requests == []


def test_a_secret_without_url_or_with_a_bad_url(secret, logs):
    assert alerter(secret(webhook="https://example.com")).post("m") is False
    assert alerter(secret(url="hooks.slack.com/services/T/B/x")).post("m") is False
    text = all_log_text(logs)
    assert "has no key 'url'" in text and "is not an http(s) URL" in text
    assert "hooks.slack.com" not in text


def test_ask_is_not_supported(secret, logs):
    with webhook_server() as server:
        assert alerter(secret(url=server.url)).ask("deploy?") is False
    assert server.requests == []
    assert "ask() is not supported" in all_log_text(logs)


# --------------------------------------------------------------------------- deadline and size cap


MARGIN_S = 1.0  # what a loaded machine may add to a deadline


def timed_post(hook: WebhookAlerter) -> tuple[bool, float]:
    started = time.monotonic()
    delivered = hook.post("m")
    return delivered, time.monotonic() - started


def flavor_warnings(logs) -> list[str]:
    return [
        r.getMessage() for r in logs.records if r.name.startswith("flavors") and r.levelno == logging.WARNING
    ]


@pytest.mark.parametrize(
    ("behaviour", "status"),
    [
        ("trickle_headers", 200),  # one byte a second: each read is within timeout_s
        ("endless", 500),  # a 5xx is retried, and urllib3 reads (drains) it first: endlessly
    ],
)
def test_a_receiver_that_never_finishes_is_cut_at_the_deadline(secret, logs, behaviour, status):
    with slow_server(behaviour, status=status) as server:
        delivered, took = timed_post(alerter(secret(url=server.url), timeout_s=30, deadline_s=1.5))
    assert delivered is False
    assert 1.5 <= took < 1.5 + MARGIN_S
    assert flavor_warnings(logs) == [
        f"webhook alerter 'team_alerts': alert not delivered: no complete answer from {server.base}/*** "
        "within deadline_s=1.5s"
    ]
    assert SLOW_TOKEN not in logs.text and SLOW_TOKEN not in all_log_text(logs)


def test_only_an_excerpt_of_an_endless_answer_is_read(secret, logs):
    with slow_server("endless", status=500) as server:
        delivered, took = timed_post(alerter(secret(url=server.url), retries=0, deadline_s=20))
    assert delivered is False and took < MARGIN_S
    assert flavor_warnings(logs) == [
        "webhook alerter 'team_alerts': alert not delivered: HTTP 500 after 1 attempt(s): ["
    ]


def test_the_body_of_a_success_is_not_waited_for(secret, logs):
    with slow_server("trickle_body") as server:
        delivered, took = timed_post(alerter(secret(url=server.url), deadline_s=20))
    assert delivered is True and took < MARGIN_S
    assert server.hits == 1


def test_a_long_retry_after_ends_at_the_deadline(secret, logs):
    with webhook_server((429, {"Retry-After": "30"}, b"slow down")) as server:
        delivered, took = timed_post(alerter(secret(url=server.url), deadline_s=1.5))
    assert delivered is False and 1.5 <= took < 1.5 + MARGIN_S
    assert len(server.requests) == 1  # no attempt after the deadline
    assert flavor_warnings(logs) == [
        f"webhook alerter 'team_alerts': alert not delivered: no complete answer from "
        f"{server.url.removesuffix(SECRET_PATH)}/*** within deadline_s=1.5s"
    ]
