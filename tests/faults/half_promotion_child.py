"""A promotion killed (SIGKILL) between the ZenML stage move and the MLflow alias move.

``python -m tests.faults.half_promotion_child MODEL PROMOTED HALF`` (on the test's ZenML store,
from the project root): moves production fully to version PROMOTED with the project's
:func:`adapters.production_stage.set_production`, then runs it again for version HALF and
dies just as it is about to move the MLflow alias (the ZenML stage has moved). The kill point is
this child's stand-in for ``set_mlflow_alias``: the project's code has no such hook.
"""

from __future__ import annotations

import os
import signal
import sys

from zenml.client import Client

import adapters.production_stage as production_stage


def _killed(*_args, **_kwargs) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main(model: str, promoted: int, half: int) -> None:
    client = Client()
    client.active_stack.experiment_tracker.configure_mlflow()  # as a step with the tracker does
    production_stage.set_production(model, client.get_model_version(model, promoted), None)
    production_stage.set_mlflow_alias = _killed  # the next alias move is where the process dies
    production_stage.set_production(
        model, client.get_model_version(model, half), client.get_model_version(model, promoted)
    )
    raise SystemExit("not killed: set_production never reached the MLflow alias")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
