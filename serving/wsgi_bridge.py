"""Handing a parsed request (:class:`serving.fast_http.HttpRequest`) to a WSGI app, as gunicorn would.

The project's gunicorn worker answers predictions itself and passes every other request to
seldon-core's Flask app through :func:`call_wsgi`, in a worker thread: the environ follows
PEP 3333 with what gunicorn adds (``RAW_URI``, ``wsgi.input_terminated``, header fields joined
with commas, names with an underscore dropped so they cannot pose as another field), and the
app's answer is collected whole.
"""

from __future__ import annotations

import io
import logging
import os
import sys
from typing import Any
from urllib.parse import unquote_to_bytes

import httptools

from serving.fast_http import HttpRequest, HttpResponse, error_response

__all__ = ["call_wsgi", "wsgi_environ"]

logger = logging.getLogger(__name__)

# Hop-by-hop fields describe one connection: the server writes its own.
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"})
_NO_BODY_STATUS = ("1", "204", "304")


def wsgi_environ(request: HttpRequest, *, multiprocess: bool, software: str) -> dict[str, Any]:
    """The WSGI environ of ``request`` (its body as ``wsgi.input``)."""
    target = request.target
    if target.startswith(b"/") or target == b"*":
        path, _, query = target.partition(b"?")
    else:  # absolute form (http://host/path?query), or what llhttp let through
        try:
            url = httptools.parse_url(target)
            path, query = url.path or b"/", url.query or b""
        except httptools.HttpParserError:
            path, query = target, b""
    script_name = os.environ.get("SCRIPT_NAME", "")
    path_info = unquote_to_bytes(path).decode("latin-1")
    if script_name and path_info.startswith(script_name):
        path_info = path_info[len(script_name) :]
    server_name, server_port = _server_address(request)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path_info,
        "QUERY_STRING": query.decode("latin-1"),
        "RAW_URI": target.decode("latin-1"),
        "SERVER_PROTOCOL": f"HTTP/{request.version}",
        "SERVER_NAME": server_name,
        "SERVER_PORT": server_port,
        "SERVER_SOFTWARE": software,
        "REMOTE_ADDR": request.peer[0] if isinstance(request.peer, tuple) else "",
        "REMOTE_PORT": str(request.peer[1]) if isinstance(request.peer, tuple) else "",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(request.body if request.body_complete or request.chunked else b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": multiprocess,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
    }
    for name, value in request.headers:
        if b"_" in name:
            continue
        text = value.decode("latin-1")
        if name == b"content-type":
            key = "CONTENT_TYPE"
        elif name == b"content-length":
            key = "CONTENT_LENGTH"
        else:
            key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
        environ[key] = f"{environ[key]},{text}" if key in environ else text
    return environ


def _server_address(request: HttpRequest) -> tuple[str, str]:
    host = request.header(b"host")
    if host:
        name, _, port = host.decode("latin-1").rpartition(":")
        if name and port.isdigit() and not name.endswith(":"):
            return name, port
        return host.decode("latin-1"), "80"
    if isinstance(request.sockname, tuple):
        return str(request.sockname[0]), str(request.sockname[1])
    return "", ""


def call_wsgi(app: Any, environ: dict[str, Any], head_only: bool = False) -> HttpResponse:
    """Run ``app`` on ``environ``; its whole answer, framed with a ``Content-Length``.

    A failure of the app itself (Flask answers its own errors) is logged and answered 500.
    """
    started: list[Any] = []
    chunks: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
        if started and exc_info is None:
            raise AssertionError("start_response called twice without exc_info")
        started[:] = [status, headers]
        return chunks.append  # the legacy write() callable

    try:
        result = app(environ, start_response)
        try:
            for chunk in result:
                if chunk:
                    chunks.append(chunk)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if not started:
            raise AssertionError("the WSGI app did not call start_response")
    except Exception:
        logger.exception("Error handling %s %s", environ.get("REQUEST_METHOD"), environ.get("RAW_URI"))
        return error_response(500, "the server failed to answer the request")
    status, app_headers = started
    body = b"".join(chunks)
    headers = [(name, value) for name, value in app_headers if name.lower() not in _HOP_BY_HOP]
    declared = [value for name, value in headers if name.lower() == "content-length"]
    close = False
    if not declared:
        if not head_only and not status.startswith(_NO_BODY_STATUS):
            headers.append(("Content-Length", str(len(body))))
    elif not head_only and declared != [str(len(body))]:
        close = True  # the app's length is wrong: only closing the connection frames the body
    return HttpResponse(status, headers, body, close)
