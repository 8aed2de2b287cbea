from steps.training.evaluate_model import evaluate_model
from steps.training.record_model_version import record_model_version
from steps.training.search_algorithm import search_algorithm
from steps.training.train_model import train_model

__all__ = ["evaluate_model", "record_model_version", "search_algorithm", "train_model"]
