"""What the model server's HTTP layer does before a request reaches the model.

seldon-core 1.19 builds the Flask app itself; a user model can only hand it a Blueprint
(``model_error_handler``). This one

- limits the request body (``SERVING_MAX_BODY_BYTES``, default 16 MiB): a larger body
  gets 413, unread when its Content-Length says so (Flask's ``MAX_CONTENT_LENGTH``), read
  up to the limit when it is streamed (chunked);
- decodes JSON without a 500 on a body nested too deeply (Python's decoder raises
  ``RecursionError``, which is not a ``ValueError``, so Flask would not call it bad JSON);
- answers predictions itself, as seldon-core would but without its per-request metrics
  round trips (:mod:`serving.direct_route`);
- answers 405 (with ``Allow``) for a method a route does not take: seldon-core serves
  static files from ``/<path>`` on GET, so a GET on the predictions route would be a 404;
- keeps the status of Flask's own HTTP errors (seldon-core's catch-all handler would
  answer 415, 404 or 405 as a 500), in Seldon's error format.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge

from serving.direct_route import answer_directly
from serving.env_settings import positive_int_env
from serving.fast_http import seldon_error_body

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "HTTP_GUARD",
    "MAX_BODY_BYTES_ENV",
    "REQUEST_HOOKS",
    "JSONTooDeep",
    "configured_max_body_bytes",
    "decode_json",
]

MAX_BODY_BYTES_ENV = "SERVING_MAX_BODY_BYTES"
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024


def configured_max_body_bytes() -> int:
    """The body limit: ``$SERVING_MAX_BODY_BYTES`` or 16 MiB.

    Raises:
        ValueError: When the variable is set but is not a positive integer.
    """
    return positive_int_env(MAX_BODY_BYTES_ENV, DEFAULT_MAX_BODY_BYTES, unit="bytes")


class JSONTooDeep(HTTPException):
    """A JSON body nested deeper than the decoder goes (400; not a ``BadRequest``, whose
    text seldon-core replaces with "Can't find JSON in data")."""

    code = 400
    description = "the request body is JSON nested too deeply to be read (a Seldon request needs 4 levels)"


def decode_json(data: str | bytes) -> Any:
    """``json.loads``, with :class:`JSONTooDeep` for a body nested too deeply.

    Raises:
        ValueError: For text that is not JSON (``json.JSONDecodeError``, ``UnicodeDecodeError``).
        JSONTooDeep: For JSON nested deeper than the interpreter's recursion limit.
    """
    try:
        return json.loads(data)
    except RecursionError:
        raise JSONTooDeep() from None


class _GuardedJSONProvider(DefaultJSONProvider):
    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        if kwargs:
            return super().loads(s, **kwargs)
        return decode_json(s)


HTTP_GUARD = Blueprint("tabular_model_http_guard", __name__)


@HTTP_GUARD.record_once
def _configure_app(state: Any) -> None:
    app: Flask = state.app
    app.config["MAX_CONTENT_LENGTH"] = configured_max_body_bytes()
    app.json = _GuardedJSONProvider(app)


@HTTP_GUARD.before_app_request
def _limit_streamed_body() -> None:
    """A chunked body (no Content-Length) over the limit is a 413 too.

    Werkzeug stops reading such a body at the limit without an error, so the model would
    see it cut short; here it is read (at most the limit) and refused when it reaches it.
    """
    if request.content_length is None and request.method in ("POST", "PUT", "PATCH"):
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        if limit is not None and len(request.get_data(cache=True)) >= limit:
            raise RequestEntityTooLarge()


@HTTP_GUARD.before_app_request
def _predict_directly() -> Any:
    """Predictions answered without seldon-core's per-request metrics round trips (see
    :mod:`serving.direct_route`); None lets seldon-core's own view answer."""
    return answer_directly(current_app)


#: The hooks this blueprint runs before every request, in order (serving.fast_predictions checks
#: that the app runs these and no others before it answers predictions without Flask).
REQUEST_HOOKS = (_limit_streamed_body, _predict_directly)


def _seldon_error(code: int, info: str) -> Any:
    return jsonify(seldon_error_body(code, info)), code


def _methods_elsewhere() -> list[str]:
    """The methods a non-static route at this path takes (empty when there is none)."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in ("POST", "GET", "PUT", "DELETE", "PATCH"):
        try:
            endpoint, _ = adapter.match(method=method)
        except HTTPException:
            continue
        if endpoint != "static" and method != request.method:
            allowed.append(method)
    return allowed


@HTTP_GUARD.app_errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Any:
    """Flask's own HTTP errors (413, 415, 404, 405...) keep their status, in Seldon's error format."""
    if isinstance(error, NotFound) and (allowed := _methods_elsewhere()):
        error = MethodNotAllowed(valid_methods=allowed)
    code = error.code or 500
    info = f"{code} {error.name}: {error.description}"
    if code == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        info = f"413 {error.name}: the request body is larger than {limit:,} bytes ({MAX_BODY_BYTES_ENV})"
    response, status = _seldon_error(code, info)
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response, status
