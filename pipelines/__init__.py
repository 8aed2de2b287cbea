"""The project's pipelines, by the name run.py knows them by."""

from pipelines.deployment import deployment, rollback, serve
from pipelines.inference import inference
from pipelines.monitoring import monitoring
from pipelines.training import training

__all__ = ["deployment", "inference", "monitoring", "rollback", "serve", "training"]
