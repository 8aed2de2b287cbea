"""ZenML materializers of the project.

Importing this package registers them with ZenML's materializer registry, so
step outputs of these types use them without naming them in ``@step``.
"""

from materializers.evaluation_report_materializer import EvaluationReportMaterializer

__all__ = ["EvaluationReportMaterializer"]
