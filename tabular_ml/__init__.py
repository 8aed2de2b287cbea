"""The project's domain code, grouped by concern; free of ZenML, MLflow and git (see adapters/)."""

from tabular_ml.moved_modules import install as _keep_old_module_paths

_keep_old_module_paths()
