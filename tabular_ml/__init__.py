"""The project's domain code, grouped by concern; free of ZenML, MLflow and git (see adapters/)."""
