# syntax=docker/dockerfile:1
# The pipeline image: what every step pod runs on a remote stack (configs/stacks/prod.yaml,
# aws.yaml). ZenML builds it from this file with the stack's image builder (the stacks'
# run_config: settings.docker), then adds a thin layer on top; the project code is not in
# the image: ZenML uploads it to the artifact store at each run and the pods download it,
# so a code change needs no new image, a changed requirements.lock does.
#
# The whole locked environment, installed as `make install` installs it (no resolution, then
# pip check), so the pods run the versions the tests ran. Python 3.12 as the venv (seldon-core
# 1.19 needs <3.13). To build it by hand (BuildKit reads pipeline.Dockerfile.dockerignore):
#   docker build -f docker/pipeline.Dockerfile -t tabular-ml-pipeline:local .
#   docker run --rm tabular-ml-pipeline:local python -c "import zenml, sklearn, mlflow"
#
# Not the serving image: the top-level Dockerfile serves a model without ZenML or MLflow.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /app

COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-deps -r /tmp/requirements.lock \
    && pip check
