"""A plain WSGI app (no Flask, no model) for running the project's gunicorn worker on its own."""

from __future__ import annotations


def app(environ, start_response):
    """Answers ``<METHOD> <PATH> <body length>`` as text."""
    body = environ["wsgi.input"].read()
    text = f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']} {len(body)}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(text)))])
    return [text]
