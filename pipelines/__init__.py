"""The project's pipelines, by the name run.py knows them by."""

from pipelines.training import training

__all__ = ["training"]
