"""Old module paths of moved modules, still importable, so what was saved under them loads.

Fitted Pipelines are pickled with their transformers' module paths (``tabular_ml.features``)
and ZenML records each artifact's data type by its import path
(``tabular_ml.evaluation.EvaluationReport``). When the library was grouped by concern
(data, modelling, reporting, model management, ...) those modules moved; model versions and
artifacts saved before still name the old paths. Importing an old path gives the module at
its new one (the same module object, so classes compare equal); nothing new is saved under
an old path.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType

__all__ = ["MOVED_MODULES", "install"]

MOVED_MODULES = {  # old path -> new path
    "tabular_ml.config": "tabular_ml.configuration.schema",
    "tabular_ml.run_config": "tabular_ml.configuration.loading",
    "tabular_ml.redaction": "tabular_ml.configuration.redaction",
    "tabular_ml.suggest": "tabular_ml.configuration.suggest",
    "tabular_ml.sources": "tabular_ml.data.sources",
    "tabular_ml.sinks": "tabular_ml.data.sinks",
    "tabular_ml.cleaning": "tabular_ml.data.cleaning",
    "tabular_ml.contract": "tabular_ml.data.contract",
    "tabular_ml.splitting": "tabular_ml.data.splitting",
    "tabular_ml.prefetch": "tabular_ml.data.prefetch",
    "tabular_ml.check_data": "tabular_ml.drafting.check_data",
    "tabular_ml.draft_config": "tabular_ml.drafting.draft_config",
    "tabular_ml.column_profile": "tabular_ml.drafting.column_profile",
    "tabular_ml.search_draft": "tabular_ml.drafting.search_draft",
    "tabular_ml.commented_yaml": "tabular_ml.drafting.commented_yaml",
    "tabular_ml.target": "tabular_ml.tasks.target",
    "tabular_ml.features": "tabular_ml.modelling.features",
    "tabular_ml.model": "tabular_ml.modelling.model",
    "tabular_ml.search": "tabular_ml.modelling.search",
    "tabular_ml.threshold": "tabular_ml.modelling.threshold",
    "tabular_ml.trained_model": "tabular_ml.modelling.trained_model",
    "tabular_ml.evaluation": "tabular_ml.modelling.evaluation",
    "tabular_ml.task_metrics": "tabular_ml.modelling.task_metrics",
    "tabular_ml.metric_names": "tabular_ml.tasks.metric_names",
    "tabular_ml.quality_gates": "tabular_ml.modelling.quality_gates",
    "tabular_ml.evaluation_curves": "tabular_ml.modelling.evaluation_curves",
    "tabular_ml.report_charts": "tabular_ml.reporting.charts",
    "tabular_ml.report_html": "tabular_ml.reporting.html_page",
    "tabular_ml.lifecycle": "tabular_ml.model_management.decisions",
    "tabular_ml.promotion": "tabular_ml.model_management.promotion",
    "tabular_ml.registry_view": "tabular_ml.model_management.registry_view",
    "tabular_ml.scoring": "tabular_ml.inference.batch_scoring",
    "tabular_ml.drift_simulation": "tabular_ml.monitoring.drift_simulation",
}


class _MovedModuleLoader(importlib.abc.Loader):
    def __init__(self, new_path: str):
        self.new_path = new_path

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(self.new_path)

    def exec_module(self, module: ModuleType) -> None:
        """Already executed under its new path."""


class _MovedModuleFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: object = None, target: object = None):
        new_path = MOVED_MODULES.get(fullname)
        if new_path is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _MovedModuleLoader(new_path))


def install() -> None:
    """Make the old paths importable (once per interpreter)."""
    if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(_MovedModuleFinder())
