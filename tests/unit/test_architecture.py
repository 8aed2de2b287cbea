"""What may import what (docs/architecture.md), checked on every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.paths import PROJECT_ROOT

# The domain library's groups, bottom up: a group imports only the groups listed before it.
DOMAIN_LAYERS = [
    ["tasks"],
    ["configuration"],
    ["data"],
    ["modelling"],
    ["reporting", "inference", "model_management", "monitoring", "drafting"],
]
# Outside systems the domain code never touches itself (adapters/ does).
NOT_IN_DOMAIN = {"zenml", "mlflow", "seldon_core", "opentelemetry", "subprocess"}
PROJECT_PACKAGES = {"adapters", "flavors", "materializers", "pipelines", "serving", "stacks", "steps", "run"}
# Packages outside tabular_ml: project packages and third-party roots each may not import.
FORBIDDEN = {
    # seldon-core is under the Business Source License: the serving image must not need it
    "serving": {"zenml", "mlflow", "seldon_core", "flask", "gunicorn", "adapters", "flavors", "materializers"}
    | {"pipelines", "stacks", "steps", "run"},
    "materializers": {"adapters", "flavors", "pipelines", "serving", "stacks", "steps", "run"},
    "adapters": {"pipelines", "steps", "stacks", "run"},
    "flavors": {"adapters", "pipelines", "steps", "stacks", "run", "materializers"},
    "steps": {"pipelines", "stacks", "run"},
    "pipelines": {"flavors", "serving", "stacks", "run", "materializers"},
    "stacks": {"adapters", "pipelines", "steps", "serving", "run", "materializers"},
}


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def python_files(package: str) -> list[Path]:
    return sorted((PROJECT_ROOT / package).rglob("*.py"))


def domain_group(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "tabular_ml" and len(parts) > 1 else None


def test_every_domain_group_is_in_a_layer():
    groups = {path.parent.name for path in (PROJECT_ROOT / "tabular_ml").glob("*/__init__.py")}
    assert groups == {group for layer in DOMAIN_LAYERS for group in layer}


@pytest.mark.parametrize("depth,layer", list(enumerate(DOMAIN_LAYERS)))
def test_domain_groups_import_only_lower_layers_and_no_outside_system(depth, layer):
    allowed = {group for below in DOMAIN_LAYERS[:depth] for group in below}
    offences = []
    for group in layer:
        for path in python_files(f"tabular_ml/{group}"):
            for module in imported_modules(path):
                root, imported_group = module.split(".")[0], domain_group(module)
                if root in NOT_IN_DOMAIN or root in PROJECT_PACKAGES:
                    offences.append(f"{path.relative_to(PROJECT_ROOT)} imports {module}")
                elif imported_group not in (None, group) and imported_group not in allowed:
                    offences.append(f"{path.relative_to(PROJECT_ROOT)} imports {module} (a higher layer)")
    assert offences == []


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_outer_packages_keep_their_boundaries(package):
    offences = [
        f"{path.relative_to(PROJECT_ROOT)} imports {module}"
        for path in python_files(package)
        for module in imported_modules(path)
        if module.split(".")[0] in FORBIDDEN[package]
    ]
    assert offences == []


def test_the_checks_see_a_real_offence(tmp_path):
    offender = tmp_path / "offender.py"
    offender.write_text("import zenml\nfrom tabular_ml.modelling.model import build_pipeline\n")
    modules = imported_modules(offender)
    assert modules == {"zenml", "tabular_ml.modelling.model"}
    assert {domain_group(module) for module in modules} == {None, "modelling"}


def step_functions(path: Path) -> list[str]:
    """The module-level functions of ``path`` decorated with ``@step`` or ``@step(...)``."""

    def name_of(decorator: ast.expr) -> str | None:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        return target.id if isinstance(target, ast.Name) else None

    tree = ast.parse(path.read_text(), str(path))
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and "step" in map(name_of, node.decorator_list)
    ]


def test_a_step_module_defines_one_step_and_nothing_else_imports_it_sideways():
    modules = [path for path in python_files("steps") if path.name != "__init__.py"]
    assert {str(path.relative_to(PROJECT_ROOT)): step_functions(path) for path in modules} == {
        str(path.relative_to(PROJECT_ROOT)): [path.stem] for path in modules
    }
    # only a stage's __init__.py imports its step modules; everything else imports the stage
    outside = [
        PROJECT_ROOT / "run.py",
        *python_files("pipelines"),
        *python_files("steps"),
        *python_files("adapters"),
    ]
    sideways = [
        f"{path.relative_to(PROJECT_ROOT)} imports {module}"
        for path in outside
        if path.name != "__init__.py"
        for module in imported_modules(path)
        if module.startswith("steps.") and module.count(".") > 1
    ]
    assert sideways == []


def test_the_step_check_sees_a_second_step(tmp_path):
    module = tmp_path / "two_steps.py"
    module.write_text(
        "@step\ndef one(): ...\n\n@step(enable_cache=False)\ndef two(): ...\n\ndef helper(): ...\n"
    )
    assert step_functions(module) == ["one", "two"]
