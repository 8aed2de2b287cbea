"""Test-wide set-up: a throwaway ZenML store and no analytics, before ZenML is imported."""

import os
import sys
import tempfile

from tests.support.paths import PROJECT_ROOT

# ZenML reads these once, at import: set them before any test module imports it.
os.environ["ZENML_CONFIG_PATH"] = tempfile.mkdtemp(prefix="zenml-test-store-")
# Point ZenML away from the project's own .zen (and its active stack) to an empty folder.
os.environ["ZENML_REPOSITORY_PATH"] = tempfile.mkdtemp(prefix="zenml-test-repo-")
os.environ["ZENML_ANALYTICS_OPT_IN"] = "false"
os.environ["ZENML_ENABLE_RICH_TRACEBACK"] = "false"
os.environ["AUTO_OPEN_DASHBOARD"] = "false"
# The tests run pytest, run.py and model servers side by side on small data, where BLAS and OpenMP
# thread pools only fight over the cores: a 3-fold search ran 5-10x slower with them on a busy
# 2-core machine. One thread each, inherited by every process the tests start (unless set).
for threads_variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(threads_variable, "1")
# Tests import the project's packages (run.py, steps, pipelines) from the project root.
sys.path.insert(0, str(PROJECT_ROOT))

from zenml.utils import source_utils  # noqa: E402 - only once the variables above are set

# ZenML resolves materializer, flavor and service sources against a source root: by default the
# folder of the __main__ module, which a pytest-xdist worker's has not. The project root is what
# run.py uses. Set in this process only: the processes the tests start must find it themselves.
source_utils.set_custom_source_root(str(PROJECT_ROOT))


# The test modules that take longest, longest first (measured: `python -m tests.support.module_times`
# on `make test`'s junit report). pytest-xdist hands out test files in collection order, so these
# start first and no process is left running a long one alone at the end.
SLOWEST_FIRST = (
    "test_task_types_day_two.py",
    "test_deployment_pipeline.py",
    "test_monitoring_pipeline.py",
    "test_shadow_deployment.py",
    "test_dashboard.py",
    "test_training_faults.py",
    "test_inference_pipeline.py",
    "test_run_cli.py",
    "test_data_lifecycle.py",
    "test_deployment_faults.py",
    "test_monitoring_history.py",
    "test_training_pipeline.py",
)


def pytest_collection_modifyitems(items):
    rank = {name: position for position, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order
