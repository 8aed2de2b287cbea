"""notebooks/: committed without outputs for this venv's kernel; the data exploration executed for real.

(The notebook that reads a training run from the ZenML store is executed by
tests/integration/test_training_notebook.py, after a real training run.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from jupyter_client.kernelspec import KernelSpecManager

from notebooks.execute import KERNEL, execute
from tests.support.notebook_outputs import cells_with_images, summary
from tests.support.paths import PROJECT_ROOT

pytestmark = pytest.mark.tools

NOTEBOOKS = PROJECT_ROOT / "notebooks"
EXPECTED = {"explore_data.ipynb", "training_artifacts.ipynb"}


def test_the_notebooks():
    assert {path.name for path in NOTEBOOKS.glob("*.ipynb")} == EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_committed_without_outputs_for_the_python3_kernel(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == KERNEL
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert code_cells
    for code_cell in code_cells:
        assert code_cell.outputs == [] and code_cell.execution_count is None, f"{name}: cell {code_cell.id}"


def test_the_python3_kernel_is_this_venvs_interpreter():
    spec = KernelSpecManager().get_kernel_spec(KERNEL)
    assert Path(spec.resource_dir).is_relative_to(sys.prefix)  # ipykernel's spec, installed in the venv
    assert spec.argv[0] == "python"  # jupyter_client starts it with sys.executable, this interpreter


@pytest.fixture(scope="module")
def exploration():
    return execute(NOTEBOOKS / "explore_data.ipynb", timeout_s=300)


def test_exploration_numbers_match_the_data(exploration):
    data = pd.read_csv(PROJECT_ROOT / "data" / "raw" / "telco_churn.csv")
    churned = data["churn"].eq("Yes")
    numbers = summary(exploration)
    assert (numbers["rows"], numbers["columns"]) == data.shape == (7043, 20)
    assert numbers["churn_rate"] == pytest.approx(churned.mean(), abs=5e-5)
    assert (
        numbers["missing_values"]
        == {"total_charges": int(data["total_charges"].isna().sum())}
        == {"total_charges": 11}
    )
    by_contract = churned.groupby(data["contract"]).mean()
    assert numbers["churn_rate_by_contract"] == pytest.approx(by_contract.to_dict(), abs=5e-5)
    bands = numbers["tenure_bands"]
    edges = [edge for low_high in bands.values() for edge in low_high]
    assert edges[0] == data["tenure"].min() and edges[-1] == data["tenure"].max()
    assert all(high + 1 == low for high, low in zip(edges[1:-1:2], edges[2::2], strict=True))  # no gaps
    for label, (low, high) in bands.items():
        expected = churned[data["tenure"].between(low, high)].mean()
        assert numbers["churn_rate_by_tenure_band"][label] == pytest.approx(expected, abs=5e-5), label
    flags = churned.astype(int)
    for column, value in numbers["correlation_with_churn"].items():
        assert value == pytest.approx(data[column].corr(flags), abs=5e-5), column
    assert set(numbers["correlation_with_churn"]) == set(data.select_dtypes("number").columns)


def test_exploration_draws_every_plot(exploration):
    assert cells_with_images(exploration) == {
        "target",
        "numeric-distributions",
        "categorical-distributions",
        "contract",
        "tenure",
        "correlations",
    }
