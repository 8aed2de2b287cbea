"""Serving the fitted Pipeline behind Seldon Core: model bundle, request schema, model class, client.

``serving.bundle`` and ``serving.request_schema`` need neither ZenML nor Seldon;
``serving.model_server`` is the Seldon Core user model (the same class runs as a
local ``seldon-core-microservice`` process and in the Kubernetes image);
``serving.client`` talks to it over HTTP.
"""
