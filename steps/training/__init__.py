from steps.training.evaluate_model import evaluate_model
from steps.training.record_model_version import record_model_version
from steps.training.train_model import train_model

__all__ = ["evaluate_model", "record_model_version", "train_model"]
