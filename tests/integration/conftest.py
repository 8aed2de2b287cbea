"""Integration tests load ZenML artifacts and services in the pytest process itself."""

from zenml.utils import source_utils

from tests.conftest import PROJECT_ROOT

# ZenML resolves materializer and service sources against a source root: by default the folder
# of the __main__ module, which a pytest-xdist worker's has not. The project root is what run.py
# uses. Set in this process only: the subprocesses the tests start must find it themselves.
source_utils.set_custom_source_root(str(PROJECT_ROOT))
