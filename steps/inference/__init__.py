from steps.inference.score_batch import score_batch

__all__ = ["score_batch"]
