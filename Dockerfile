# syntax=docker/dockerfile:1
# The serving image: seldon-core-microservice running serving.model_server.TabularModel on a
# model bundle (model.joblib + bundle.json) found in $MODEL_DIR (/mnt/models, where the
# SeldonDeployment's storage initializer puts it; see serving/k8s.py).
#
# Serving only: it holds seldon-core, scikit-learn, pandas and their dependencies
# (requirements-serving.txt, the same versions as requirements.lock), not ZenML, MLflow or
# Evidently; pipeline steps on Kubernetes run in the images ZenML builds itself.
#
#   docker build -t tabular-serving:latest .
#   docker run --rm -p 9000:9000 -p 6000:6000 -v "$PWD/bundle:/mnt/models:ro" tabular-serving:latest
#   curl -s localhost:9000/health/status
#   curl -s -H 'Content-Type: application/json' localhost:9000/api/v1.0/predictions \
#        -d '{"jsonData": {"tenure": 12, ...}}'
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

# Ports come from the environment, not from flags, so the values the Seldon operator
# injects into the container (PREDICTIVE_UNIT_*_SERVICE_PORT) always win. The REST server runs
# the project's gunicorn worker (serving/fast_worker.py: predictions without Flask, keep-alive
# of GUNICORN_KEEPALIVE seconds); SERVING_FAST_WORKER=off in the pod's env: gunicorn's own.
ENV MODEL_DIR=/mnt/models \
    PREDICTIVE_UNIT_HTTP_SERVICE_PORT=9000 \
    PREDICTIVE_UNIT_GRPC_SERVICE_PORT=9500 \
    PREDICTIVE_UNIT_METRICS_SERVICE_PORT=6000 \
    GUNICORN_WORKERS=1 \
    GUNICORN_THREADS=4 \
    SERVING_FAST_WORKER=on

# 9000 REST (Seldon protocol), 9500 gRPC, 6000 Prometheus metrics (/metrics; the Seldon
# operator sets PREDICTIVE_UNIT_METRICS_ENDPOINT=/prometheus).
EXPOSE 9000 9500 6000

USER 1000:1000

# /health/status answers 503 until the bundle is loaded (no curl in slim: python it is).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/status' % os.environ.get('PREDICTIVE_UNIT_HTTP_SERVICE_PORT', '9000'), timeout=4)"]

ENTRYPOINT ["seldon-core-microservice", "serving.model_server.TabularModel", "--service-type", "MODEL"]
