"""The project's pipelines, by the name run.py knows them by."""

from pipelines.deployment import deployment, rollback, serve
from pipelines.inference import inference
from pipelines.training import training

__all__ = ["deployment", "inference", "rollback", "serve", "training"]
