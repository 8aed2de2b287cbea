"""The documentation site builds in strict mode, its configuration reference is complete, and the
README stays a short front door whose links lead somewhere."""

from __future__ import annotations

import html
import inspect
import os
import re
import shutil
import subprocess
import sys
import types
import typing
import urllib.parse
from pathlib import Path

import pytest
from pydantic import BaseModel

from serving.protocols import seldon
from tabular_ml.configuration import schema
from tabular_ml.configuration.run_config import PIPELINE_PARAMETERS

pytestmark = pytest.mark.tools

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The builder lives apart from the runtime packages (Makefile: DOCS_PACKAGES), in this venv.
DOCS_PACKAGES = Path(sys.prefix) / "docs-packages"


def build(config: Path, site: Path) -> subprocess.CompletedProcess:
    assert (DOCS_PACKAGES / "mkdocs").is_dir(), f"{DOCS_PACKAGES} has no mkdocs: run `make install-docs`"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(config),
            "--site-dir",
            site,
        ],
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(DOCS_PACKAGES)},
    )


def test_the_runtime_packages_do_not_hold_the_docs_builder():
    """run.py, the steps and the pipeline image import from the runtime set alone."""
    runtime = subprocess.run(
        [sys.executable, "-c", "import importlib.util; print(importlib.util.find_spec('mkdocs'))"],
        capture_output=True,
        text=True,
        env={key: value for key, value in os.environ.items() if key != "PYTHONPATH"},
    )
    assert runtime.stdout.strip() == "None"
    lock = (PROJECT_ROOT / "requirements.lock").read_text()
    locked = {line.split("==")[0].lower() for line in lock.split()}
    assert not locked & {"mkdocs", "mkdocs-material", "pymdown-extensions", "babel"}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site")
    result = build(PROJECT_ROOT / "mkdocs.yml", site)
    assert result.returncode == 0, result.stderr[-3000:]
    return site


def test_the_site_builds_strictly_with_every_page(site):
    for page in (
        "index",
        "getting-started",
        "guides/training",
        "guides/deployment",
        "guides/batch-scoring",
        "guides/monitoring",
        "reference/configuration",
        "reference/cli",
        "operations",
        "production",
        "architecture",
        "benchmarks",
        "development",
    ):
        assert (site / f"{page}.html").is_file(), page
    assert (site / "bench" / "results" / "serving.html").is_file()  # a linked result file is published


def key_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every key, nested: ``a.b``; ``a[].b`` for list items, ``a.<name>.b`` for mapping values."""
    paths = set()
    for name, field in model.model_fields.items():
        paths.add(prefix + name)
        annotation, suffix = field.annotation, "."
        while True:
            while typing.get_origin(annotation) is typing.Annotated:
                annotation = typing.get_args(annotation)[0]
            origin = typing.get_origin(annotation)
            if origin is list:
                annotation, suffix = typing.get_args(annotation)[0], "[]."
            elif origin is dict:
                annotation, suffix = typing.get_args(annotation)[1], ".<name>."
            else:
                break
        members = typing.get_args(annotation) if origin in (typing.Union, types.UnionType) else (annotation,)
        for member in members:
            while typing.get_origin(member) is typing.Annotated:
                member = typing.get_args(member)[0]
            if inspect.isclass(member) and issubclass(member, BaseModel):
                paths |= key_paths(member, prefix + name + suffix)
    return paths


def parameter_models() -> list[type[BaseModel]]:
    """The schema's ``*Parameters`` models and whatever model the CLI validates a pipeline with."""
    named = {
        value
        for name, value in vars(schema).items()
        if inspect.isclass(value) and issubclass(value, BaseModel) and name.endswith("Parameters")
    }
    return sorted(named | set(PIPELINE_PARAMETERS.values()), key=lambda model: model.__name__)


def test_the_configuration_reference_names_every_key_of_every_pipeline(site):
    page = html.unescape(re.sub(r"<[^>]+>", "", (site / "reference" / "configuration.html").read_text()))
    models = parameter_models()
    assert {model.__name__ for model in models} >= {"TrainingParameters", "MonitoringParameters"}
    paths = {path for model in models for path in key_paths(model)}
    assert {
        "source.path",
        "search.algorithms[].search_space.<name>.low",
        "contract.columns.<name>.kind",
        "current.since",
        "serving.request_log_dir",
    } <= paths
    missing = sorted(path for path in paths if path not in page)
    assert not missing


def test_every_key_has_a_description_in_the_schema():
    """Descriptions are written once, in the schema; a section is described by its model's docstring."""
    undescribed = []
    for name, value in vars(schema).items():
        if inspect.isclass(value) and issubclass(value, BaseModel) and value.__module__ == schema.__name__:
            for field_name, field in value.model_fields.items():
                literal = typing.get_origin(field.annotation) is typing.Literal
                discriminator = field_name in ("type", "kind") and literal
                if not field.description and not discriminator and not _is_section(field.annotation):
                    undescribed.append(f"{name}.{field_name}")
    assert not undescribed


def _is_section(annotation) -> bool:
    return inspect.isclass(annotation) and issubclass(annotation, BaseModel)


def test_a_broken_link_fails_the_strict_build(tmp_path):
    copy = tmp_path / "project"
    copy.mkdir()
    for entry in PROJECT_ROOT.iterdir():  # the code the hook reads, as it is; the pages, as a copy
        if entry.name not in ("docs", ".git", ".venv", "site"):
            (copy / entry.name).symlink_to(entry)
    shutil.copytree(PROJECT_ROOT / "docs", copy / "docs")
    page = copy / "docs" / "operations.md"
    page.write_text(page.read_text() + "\nSee [the missing page](no-such-page.md).\n")
    result = build(copy / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1  # that link, and nothing else
    assert "contains a link 'no-such-page.md', but the target is not found" in warnings[0]


README = (PROJECT_ROOT / "README.md").read_text()


def test_the_readme_is_at_most_300_lines():
    assert len(README.splitlines()) <= 300


def test_every_relative_link_of_the_readme_exists():
    links = re.findall(r"\]\(([^)\s]+)\)", README)
    relative = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert len(relative) >= 10
    missing = [link for link in relative if not (PROJECT_ROOT / link.split("#")[0]).exists()]
    assert not missing


def test_the_readme_keeps_the_ci_test_command():
    """.ci/run runs "the README's test command"."""
    assert re.search(r"^make test\b", README, re.MULTILINE)


def readme_commands() -> list[str]:
    """The commands of the README's bash blocks, one per ``&&`` part, comments dropped."""
    blocks = re.findall(r"^```bash\n(.*?)^```", README, re.MULTILINE | re.DOTALL)
    lines = []
    for block in blocks:
        for line in block.splitlines():
            if lines and lines[-1].count("'") % 2:  # inside a quoted request body: the same command
                lines[-1] += " " + line.strip()
            else:
                lines.append(line.split("#")[0].strip())
    return [part.strip() for line in lines if line for part in line.split("&&")]


def test_the_readme_commands_name_real_targets_configs_and_options():
    """Each command resolves without running anything: a make target, a config that validates
    (--dry-run), a run.py command whose every option its help lists."""
    commands = readme_commands()
    assert {"make run", "make test", "python run.py rollback"} <= set(commands)
    targets = set(re.findall(r"^([a-z-]+):", (PROJECT_ROOT / "Makefile").read_text(), re.MULTILINE))
    for command in commands:
        words = command.split()
        if words[0] == "make":
            assert words[1] in targets, command
            continue
        if words[0] == "curl":  # a call of the local server: a route it answers
            url = next(word.strip("'\"") for word in words if "127.0.0.1:" in word)
            route = urllib.parse.urlsplit(f"http://{url}").path
            assert route in seldon.PREDICTION_PATHS | seldon.EXPLAIN_PATHS, command
            continue
        assert words[:2] == ["python", "run.py"], command
        if words[2] == "--config":
            args = [*words[2:], "--dry-run"]
        else:
            args = [words[2], "--help"]
        result = subprocess.run(
            [sys.executable, "run.py", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, (command, result.stderr[-2000:])
        if words[2] != "--config":
            options = [word for word in words[3:] if word.startswith("--")]
            assert all(option in result.stdout for option in options), (command, result.stdout)
