"""Run the notebooks headless, without a Jupyter front end.

    python notebooks/execute.py [NOTEBOOK ...]      # default: every notebooks/*.ipynb

Each notebook runs top to bottom in a fresh kernel of this venv (ipykernel's ``python3``: the
interpreter running this script) with notebooks/ as its working directory and this process's
environment, so the same ZenML store. The executed copy goes to notebooks/executed/
(git-ignored): the committed notebooks carry no outputs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS = Path(__file__).resolve().parent
EXECUTED = NOTEBOOKS / "executed"
KERNEL = "python3"


def execute(path: Path, timeout_s: int = 600) -> nbformat.NotebookNode:
    """The notebook at ``path`` after running every cell; raises CellExecutionError on a failing cell."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=timeout_s, kernel_name=KERNEL, resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()
    return notebook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python notebooks/execute.py", description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/*.ipynb")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(NOTEBOOKS.glob("*.ipynb"))
    for path in paths:
        if path.suffix != ".ipynb" or not path.is_file():
            print(f"error: {path}: not a notebook file (.ipynb)", file=sys.stderr)
            return 2
    EXECUTED.mkdir(exist_ok=True)
    for path in paths:
        try:
            notebook = execute(path)
        except CellExecutionError as error:
            last_line = (str(error).strip().splitlines() or ["a cell failed"])[-1]
            print(f"error: {path.name}: {last_line}", file=sys.stderr)
            return 1
        nbformat.write(notebook, EXECUTED / path.name)
        print(f"{path.name}: executed -> {(EXECUTED / path.name).relative_to(NOTEBOOKS.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
