"""Serving the fitted Pipeline: model bundle, request schema, scorer, the ASGI app, client.

``serving.bundle``, ``serving.request_schema`` and ``serving.scoring`` need neither ZenML nor an
HTTP server; ``serving.app`` is the ASGI app speaking the Seldon Core v1 protocol and the Open
Inference Protocol v2, ``serving.server`` runs it on uvicorn (``python -m serving``, the same in
the image and as a local process); ``serving.client`` talks to it over HTTP.
"""
