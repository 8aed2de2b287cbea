"""The library fingerprint in the training pipeline's cache key (adapters/git_revision.py).

``git_revision`` runs git: tests/tools/test_git_revision.py.
"""

from pathlib import Path

from adapters.git_revision import library_fingerprint
from tests.support.paths import PROJECT_ROOT

MODULES = {
    "tabular_ml/__init__.py": "",
    "tabular_ml/data/splitting.py": "def split(): return 1\n",
    "serving/app.py": "APP = 1\n",
    "serving/protocols/oip.py": "TENSORS = 1\n",
    "tests/test_split.py": "def test(): pass\n",
}


def tree(root: Path, **changed: str) -> Path:
    """The modules above under ``root``; ``changed``: paths (``/`` as ``__``) with other text."""
    for name, text in MODULES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(changed.get(name.replace("/", "__"), text))
    return root


def test_a_change_in_any_library_module_subpackages_included_changes_the_fingerprint(tmp_path):
    base = library_fingerprint(tree(tmp_path / "base"))
    assert library_fingerprint(tree(tmp_path / "same")) == base
    for name in ("tabular_ml/data/splitting.py", "serving/protocols/oip.py", "serving/app.py"):
        changed = tree(tmp_path / name.replace("/", "_"), **{name.replace("/", "__"): "CHANGED = 1\n"})
        assert library_fingerprint(changed) != base, name


def test_code_outside_the_library_and_compiled_files_do_not_count(tmp_path):
    root = tree(tmp_path)
    base = library_fingerprint(root)
    (root / "tests/test_split.py").write_text("def test(): assert False\n")
    (root / "tabular_ml/data/__pycache__").mkdir()
    (root / "tabular_ml/data/__pycache__/splitting.cpython-312.pyc").write_bytes(b"\0\1")
    assert library_fingerprint(root) == base


def test_a_module_moved_to_another_package_changes_the_fingerprint(tmp_path):
    root = tree(tmp_path)
    base = library_fingerprint(root)
    (root / "tabular_ml/modelling").mkdir()
    (root / "tabular_ml/data/splitting.py").rename(root / "tabular_ml/modelling/splitting.py")
    assert library_fingerprint(root) != base


def test_the_pipelines_fingerprint_is_the_projects():
    assert library_fingerprint() == library_fingerprint(PROJECT_ROOT)
    assert len(library_fingerprint()) == 64
