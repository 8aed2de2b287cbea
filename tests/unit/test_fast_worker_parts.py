"""The parts of the project's gunicorn worker that need no server: settings, the gunicorn set-up,
the WSGI environ and answer framing, the fast route's checks of the Flask app."""

from __future__ import annotations

import pytest
from flask import Flask
from gunicorn.app.base import BaseApplication
from seldon_core.gunicorn_utils import StandaloneApplication, UserModelApplication
from seldon_core.metrics import SeldonMetrics
from seldon_core.wrapper import get_rest_microservice

from serving.env_settings import positive_float_env
from serving.fast_http import HttpRequest
from serving.fast_predictions import FastPredictions, fast_route_refusal
from serving.fast_worker import WORKER_CLASS, fast_worker_enabled
from serving.http_guard import HTTP_GUARD
from serving.model_server import configure_gunicorn
from serving.wsgi_bridge import call_wsgi, wsgi_environ


def test_fast_worker_switch_and_read_timeout_settings(monkeypatch):
    for value, enabled in (("", True), ("on", True), ("OFF", False), ("0", False)):
        monkeypatch.setenv("SERVING_FAST_WORKER", value)
        assert fast_worker_enabled() is enabled
    monkeypatch.setenv("SERVING_FAST_WORKER", "fast")
    with pytest.raises(ValueError, match="^SERVING_FAST_WORKER='fast' must be on or off$"):
        fast_worker_enabled()
    monkeypatch.setenv("SERVING_READ_TIMEOUT_S", "0.5")
    assert positive_float_env("SERVING_READ_TIMEOUT_S", 30.0) == 0.5
    for bad in ("0", "-1", "inf", "soon"):
        monkeypatch.setenv("SERVING_READ_TIMEOUT_S", bad)
        with pytest.raises(ValueError, match="must be a positive number \\(seconds\\)$"):
            positive_float_env("SERVING_READ_TIMEOUT_S", 30.0, unit="seconds")


def _worker_of(application: BaseApplication) -> str:
    return application.cfg.worker_class_str


def test_the_rest_server_gets_the_project_worker_and_the_metrics_server_keeps_its_own():
    options = {"bind": "0.0.0.0:9000", "workers": 1, "threads": 4, "keepalive": 0}
    try:
        configure_gunicorn(None, fast_worker=True)
        rest = UserModelApplication(Flask("rest"), object(), False, None, "model", options=dict(options))
        metrics = StandaloneApplication(Flask("metrics"), options={"bind": "0.0.0.0:6000"})
        assert (_worker_of(rest), _worker_of(metrics)) == (WORKER_CLASS, "sync")
        assert rest.cfg.bind == ["0.0.0.0:9000"]  # no host given: the bind is left alone
        configure_gunicorn("127.0.0.1", fast_worker=False)
        rest = UserModelApplication(Flask("rest"), object(), False, None, "model", options=dict(options))
        assert _worker_of(rest) == "gthread" and rest.cfg.bind == ["127.0.0.1:9000"]  # sync, 4 threads
    finally:
        configure_gunicorn(None, fast_worker=True)  # as importing serving.model_server leaves it


def _request(target: bytes, headers: list[tuple[bytes, bytes]], body: bytes = b"", **kwargs) -> HttpRequest:
    return HttpRequest(
        method=kwargs.pop("method", "POST"),
        target=target,
        version="1.1",
        headers=headers,
        keep_alive=False,
        peer=("127.0.0.1", 40000),
        sockname=("127.0.0.1", 9000),
        body=body,
        **kwargs,
    )


def test_the_wsgi_environ_is_what_gunicorn_would_build():
    request = _request(
        b"/api/v1.0/predictions%2Fx?json=1&b=%20",
        [
            (b"host", b"models.example:8080"),
            (b"content-type", b"application/json"),
            (b"content-length", b"2"),
            (b"x-tag", b"a"),
            (b"x-tag", b"b"),
            (b"x_tag", b"sneaky"),  # an underscore could pose as X-Tag: dropped
        ],
        b"{}",
    )
    environ = wsgi_environ(request, multiprocess=True, software="test")
    assert environ["REQUEST_METHOD"] == "POST"
    assert environ["PATH_INFO"] == "/api/v1.0/predictions/x"
    assert environ["QUERY_STRING"] == "json=1&b=%20"
    assert environ["RAW_URI"] == "/api/v1.0/predictions%2Fx?json=1&b=%20"
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("models.example", "8080")
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == ("127.0.0.1", "40000")
    assert (environ["CONTENT_TYPE"], environ["CONTENT_LENGTH"]) == ("application/json", "2")
    assert environ["HTTP_X_TAG"] == "a,b"
    assert environ["wsgi.input"].read() == b"{}"
    assert environ["wsgi.input_terminated"] and environ["wsgi.multiprocess"]
    unread = _request(b"/", [(b"content-length", b"99999999")], body_complete=False)
    assert wsgi_environ(unread, multiprocess=False, software="test")["wsgi.input"].read() == b""


def test_answers_from_the_app_are_framed_and_its_failures_are_a_json_500():
    def app(environ, start_response):
        start_response("201 CREATED", [("Content-Type", "text/plain"), ("Connection", "upgrade")])
        return [b"made", b"", b" it"]

    answer = call_wsgi(app, {"REQUEST_METHOD": "POST", "RAW_URI": "/"})
    assert (answer.status, answer.body, answer.close) == ("201 CREATED", b"made it", False)
    assert answer.headers == [("Content-Type", "text/plain"), ("Content-Length", "7")]  # hop-by-hop dropped

    def wrong_length(environ, start_response):
        start_response("200 OK", [("Content-Length", "100")])
        return [b"short"]

    assert call_wsgi(wrong_length, {}).close, "a body the app misframed ends the connection"

    def broken(environ, start_response):
        raise RuntimeError("boom")

    failed = call_wsgi(broken, {"REQUEST_METHOD": "GET", "RAW_URI": "/x"})
    assert failed.status == "500 INTERNAL SERVER ERROR" and b"MICROSERVICE_INTERNAL_ERROR" in failed.body


class _Model:
    model_error_handler = HTTP_GUARD

    def predict_raw(self, request):
        return {"data": {"ndarray": [[1]]}}


@pytest.fixture
def seldon_app():
    """seldon-core's Flask app for a model with the project's HTTP guard; its metrics manager
    process is stopped after the test."""
    metrics = SeldonMetrics()
    yield get_rest_microservice(_Model(), metrics)
    metrics._manager.shutdown()


def test_the_fast_route_is_used_only_on_the_app_it_knows(seldon_app):
    assert fast_route_refusal(seldon_app, tracing=True) == "tracing is on (its spans are made by Flask hooks)"
    assert fast_route_refusal(seldon_app, tracing=False) is None
    seldon_app.after_request(lambda response: response)
    assert fast_route_refusal(seldon_app, tracing=False) == (
        "the Flask app has after-request hooks this worker does not know"
    )
    seldon_app.after_request_funcs[None].pop()
    seldon_app.before_request(lambda: None)
    assert fast_route_refusal(seldon_app, tracing=False) == (
        "the Flask app has before-request hooks this worker does not know"
    )
    seldon_app.before_request_funcs[None].pop()
    predictions, reason = FastPredictions.for_app(seldon_app, tracing=False)
    assert reason is None
    assert predictions.common_headers == [("Access-Control-Allow-Origin", "*")]  # flask-cors, probed
    assert fast_route_refusal(lambda environ, start: [], tracing=False) == (
        "the WSGI app is a function, not seldon-core's Flask app"
    )


def test_the_fast_route_takes_plain_json_predictions_only(seldon_app):
    predictions, _ = FastPredictions.for_app(seldon_app, tracing=False)
    json_type = [(b"content-type", b"application/json")]
    assert predictions.accepts(_request(b"/api/v1.0/predictions", json_type, b"{}"))
    assert predictions.accepts(
        _request(b"/api/v0.1/predictions", [(b"content-type", b"Application/JSON; x=1")])
    )
    for target, headers, kwargs in [
        (b"/api/v1.0/predictions?json=1", json_type, {}),
        (b"/api/v1.0/predictions", [(b"content-type", b"text/plain")], {}),
        (b"/api/v1.0/predictions", json_type + json_type, {}),  # a repeated type: Flask decides
        (b"/api/v1.0/predictions", [*json_type, (b"origin", b"http://x")], {}),
        (b"/api/v1.0/predictions", json_type, {"chunked": True}),
        (b"/api/v1.0/predictions", json_type, {"body_complete": False}),
        (b"/api/v1.0/predictions", json_type, {"method": "PUT"}),
        (b"/api/v1.0/predictions/", json_type, {}),
    ]:
        assert not predictions.accepts(_request(target, headers, b"{}", **kwargs)), (target, headers, kwargs)
