"""The model: target, features, the Pipeline, the search, the threshold, evaluation and gates."""
