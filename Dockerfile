# syntax=docker/dockerfile:1
# The serving image: `python -m serving` (serving/server.py: the project's ASGI app on uvicorn)
# serving a model bundle (model.joblib + bundle.json) found in $MODEL_DIR (/mnt/models, where the
# SeldonDeployment's storage initializer puts it; see adapters/seldon_deployment.py). It speaks the Seldon
# Core v1 REST protocol (what Seldon's executor sends it) and the Open Inference Protocol v2 on
# one HTTP port, and serves Prometheus metrics on another; every setting is an environment
# variable (serving/settings.py).
#
# Serving only: uvicorn, starlette, scikit-learn, pandas and their dependencies
# (requirements-serving.txt, the same versions as requirements.lock, all permissively licensed:
# tests/unit/serving/test_image_licenses.py), not ZenML, MLflow or Evidently, and not
# seldon-core (Business Source License); pipeline steps on Kubernetes run in the images ZenML
# builds itself.
#
#   docker build -t tabular-serving:latest .
#   docker run --rm -p 9000:9000 -p 6000:6000 -v "$PWD/bundle:/mnt/models:ro" tabular-serving:latest
#   curl -s localhost:9000/health/status
#   curl -s -H 'Content-Type: application/json' localhost:9000/api/v1.0/predictions \
#        -d '{"jsonData": {"tenure": 12, ...}}'
#   curl -s localhost:6000/metrics
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /app

# Dependencies first (their layer is reused until requirements-serving.txt changes).
# --no-deps: the file pins the whole closure, as `make install` does with requirements.lock.
COPY requirements-serving.txt ./
RUN pip install --no-deps -r requirements-serving.txt \
    && pip check \
    && groupadd --system --gid 1000 serving \
    && useradd --system --uid 1000 --gid serving --no-create-home --home-dir /app \
       --shell /usr/sbin/nologin serving \
    && mkdir -p /mnt/models \
    && chown serving:serving /mnt/models

# Only the code a serving process imports; root-owned, so the server cannot change it.
COPY tabular_ml/ ./tabular_ml/
COPY serving/ ./serving/

# Ports come from the environment, not from flags, so the values the Seldon operator injects
# into the container (PREDICTIVE_UNIT_HTTP_SERVICE_PORT, PREDICTIVE_UNIT_METRICS_SERVICE_PORT)
# replace these defaults (SERVING_PORT and SERVING_METRICS_PORT, when set, take precedence over
# them). SERVING_WORKERS server processes share the HTTP port; each loads the model (the pod's
# env sets it, see adapters/seldon_deployment.py).
ENV MODEL_DIR=/mnt/models \
    PREDICTIVE_UNIT_HTTP_SERVICE_PORT=9000 \
    PREDICTIVE_UNIT_METRICS_SERVICE_PORT=6000 \
    SERVING_WORKERS=1

# 9000 HTTP (Seldon v1 /api/v1.0/predictions, Open Inference Protocol v2 /v2/...), 6000
# Prometheus metrics (/metrics, and /prometheus, the path the Seldon operator scrapes).
EXPOSE 9000 6000

USER 1000:1000

# /health/status answers once the bundle is loaded (no curl in slim: python it is).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/status' % (os.environ.get('SERVING_PORT') or os.environ.get('PREDICTIVE_UNIT_HTTP_SERVICE_PORT', '9000')), timeout=4)"]

# Exits 2 on a bad setting (one line naming the variable), 3 when the bundle does not load.
ENTRYPOINT ["python", "-m", "serving"]
