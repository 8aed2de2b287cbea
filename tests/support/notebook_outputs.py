"""Reading what an executed notebook printed and drew (tests of notebooks/)."""

from __future__ import annotations

import json

import nbformat

SUMMARY_TAG = "summary"


def cell(notebook: nbformat.NotebookNode, cell_id: str) -> nbformat.NotebookNode:
    (found,) = [c for c in notebook.cells if c.get("id") == cell_id]
    return found


def stdout(code_cell: nbformat.NotebookNode) -> str:
    return "".join(o.text for o in code_cell.outputs if o.output_type == "stream" and o.name == "stdout")


def summary(notebook: nbformat.NotebookNode) -> dict:
    """The JSON printed by the notebook's cell tagged ``summary``."""
    (tagged,) = [c for c in notebook.cells if SUMMARY_TAG in c.get("metadata", {}).get("tags", [])]
    return json.loads(stdout(tagged))


def cells_with_images(notebook: nbformat.NotebookNode) -> set[str]:
    """Ids of the code cells that displayed a PNG (a matplotlib figure)."""
    return {
        c.id
        for c in notebook.cells
        if c.cell_type == "code" and any("image/png" in o.get("data", {}) for o in c.outputs)
    }
