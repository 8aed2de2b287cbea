"""What a model predicts: the task, its classes and its metrics by name (imports nothing else here)."""
