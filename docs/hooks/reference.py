"""MkDocs hook: the reference pages written from the code at build time, and the benchmark results.

- ``reference/configuration.md``: every key of every pipeline's ``parameters:`` section, read from the
  pydantic models of ``tabular_ml/configuration/schema.py`` that ``run_config.PIPELINE_PARAMETERS``
  validates each pipeline's config with (type, default, description), so the
  descriptions are written once, in the schema, and the page cannot go stale.
- ``reference/cli.md``: the help of every ``run.py`` command, as click prints it.
- ``bench/results/*``: the benchmarks' own result files, published beside the pages that link to them
  as ``../bench/results/NAME`` (the same link works on GitHub), and included where a page says
  ``<!-- include: ../bench/results/NAME.md -->``, so no number is copied by hand.

A key without a description, or a section whose model has no docstring, is logged as a warning,
which fails the strict build.
"""

from __future__ import annotations

import inspect
import json
import logging
import posixpath
import re
import sys
import types
import typing
from pathlib import Path

import annotated_types
from mkdocs.structure.files import File, Files, InclusionLevel
from pydantic import BaseModel
from pydantic.fields import FieldInfo

ROOT = Path(__file__).resolve().parents[2]
CONFIGURATION_MARKER = "<!-- generated: configuration reference -->"
CLI_MARKER = "<!-- generated: command-line reference -->"
INCLUDE = re.compile(r"^<!-- include: (\S+) -->$", re.MULTILINE)
PUBLISHED = ("bench/results/*.md", "bench/results/*.png", "tests/README.md")  # repository files pages link to

log = logging.getLogger("mkdocs.hooks.reference")


def on_files(files: Files, config) -> Files:
    """Publishes the repository files that pages link to, such as ``../bench/results/NAME``."""
    for pattern in PUBLISHED:
        for path in sorted(ROOT.glob(pattern)):
            relative = path.relative_to(ROOT).as_posix()
            dest = relative[: -len(".md")] + ".html" if relative.endswith(".md") else relative
            files.append(
                File(
                    f"../{relative}",
                    src_dir=config["docs_dir"],
                    dest_dir=config["site_dir"],
                    use_directory_urls=False,
                    dest_uri=dest,
                    inclusion=InclusionLevel.NOT_IN_NAV,
                )
            )
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Replaces the markers of the reference pages with what the code says."""
    if CONFIGURATION_MARKER in markdown:
        markdown = markdown.replace(CONFIGURATION_MARKER, configuration_reference())
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_reference())
    return INCLUDE.sub(lambda match: included(match[1], page.file.src_uri, files), markdown)


def included(link: str, page_uri: str, files: Files) -> str:
    """A published file's text in a page: its title dropped, its headings under the page's, its links
    made relative to the page. A missing file is a warning (a failure in strict mode)."""
    target = posixpath.normpath(posixpath.join(posixpath.dirname(page_uri), link))
    file = files.get_file_from_path(target)
    if file is None:
        log.warning("Doc file '%s' includes '%s', which is not a published file", page_uri, link)
        return ""
    text = re.sub(r"\A# .*\n+", "", file.content_string)
    text = re.sub(r"^(#{2,4}) ", lambda heading: "#" * (len(heading[1]) + 2) + " ", text, flags=re.MULTILINE)
    # Python-Markdown starts a list only after a blank line; the result files do not leave one
    text = re.sub(r"^((?!- ).+)\n(?=- )", r"\1\n\n", text, flags=re.MULTILINE)
    folder = posixpath.dirname(link)
    return re.sub(r"\]\((?![a-z]+:|#|/)([^)]+)\)", lambda ref: f"]({folder}/{ref[1]})", text)


# --------------------------------------------------------------------------- configuration


def parameter_models() -> dict[str, type[BaseModel]]:
    """Pipeline name -> the model of its ``parameters:`` section, as the CLI validates them."""
    _importable()
    from tabular_ml.configuration.run_config import PIPELINE_PARAMETERS

    return dict(PIPELINE_PARAMETERS)


def configuration_reference() -> str:
    """One section per pipeline: a table of every key path, its type, default and description."""
    sections = []
    for pipeline, model in parameter_models().items():
        rows = list(_rows(model, "", "parameters"))
        table = ["| key | type | default | description |", "|---|---|---|---|"]
        table += [f"| `{key}` | {kind} | {default} | {text} |" for key, kind, default, text in rows]
        title = f"{pipeline} (`{model.__name__}`)"
        sections.append(f"## {title}\n\n{_docstring(model, model.__name__)}\n\n" + "\n".join(table))
    return "\n\n".join(sections) + "\n"


def _rows(model: type[BaseModel], prefix: str, where: str, note: str = ""):
    for name, field in model.model_fields.items():
        key = prefix + name
        models, container = _nested(field.annotation)
        text = field.description or ""
        if not text and _tag(model).startswith(f"{name}: "):
            text = "selects this kind"  # the discriminator of a union's variant
        if not text and models and len(models) == 1:
            text = _docstring(models[0], f"{where}.{name}")
        if not text:
            log.warning("configuration reference: %s.%s (%s) has no description", where, name, model.__name__)
        yield key, _escape(_type_text(field)), _escape(_default_text(field)), _escape(note + text)
        if not models:
            continue
        child = key + {"list": "[].", "dict": ".<name>."}.get(container, ".")
        for variant in models:
            variant_note = ""
            if len(models) > 1:
                tag = _tag(variant)
                variant_note = f"({tag}) " if tag else f"({variant.__name__}) "
                yield (
                    child.rstrip(".") + f" ({tag or variant.__name__})",
                    "section",
                    "",
                    _escape(_docstring(variant, variant.__name__)),
                )
            yield from _rows(variant, child, f"{where}.{name}", variant_note)


def _nested(annotation) -> tuple[list[type[BaseModel]], str]:
    """The models a field holds (several for a union) and how: directly, in a list, or as dict values."""
    annotation = _strip(annotation)
    origin = typing.get_origin(annotation)
    if origin is list:
        models, _ = _nested(typing.get_args(annotation)[0])
        return models, "list"
    if origin is dict:
        models, _ = _nested(typing.get_args(annotation)[1])
        return models, "dict"
    if origin in (typing.Union, types.UnionType):
        models = [m for arg in typing.get_args(annotation) for m in _nested(arg)[0]]
        return models, ""
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return [annotation], ""
    return [], ""


def _strip(annotation):
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _tag(model: type[BaseModel]) -> str:
    """``type: sql`` for a variant chosen by a one-value Literal field, else ''."""
    for name in ("type", "kind", "distribution"):
        field = model.model_fields.get(name)
        if field is not None and typing.get_origin(field.annotation) is typing.Literal:
            values = typing.get_args(field.annotation)
            if len(values) == 1:
                return f"{name}: {values[0]}"
    return ""


def _type_text(field: FieldInfo) -> str:
    text = _annotation_text(field.annotation)
    bounds = []
    for item in field.metadata:
        for attribute, symbol in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if isinstance(item, getattr(annotated_types, attribute.capitalize())):
                bounds.append(f"{symbol} {getattr(item, attribute)}")
        if isinstance(item, annotated_types.MinLen):
            bounds.append(f"at least {item.min_length} item(s)")
        if getattr(item, "pattern", None):
            bounds.append(f"matching `{item.pattern}`")
    return text + ("; " + ", ".join(bounds) if bounds else "")


def _annotation_text(annotation) -> str:
    if typing.get_origin(annotation) is typing.Annotated:
        inner, *extra = typing.get_args(annotation)
        bounds = [
            f"{symbol} {getattr(item, attribute)}"
            for item in extra
            for attribute, symbol in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
            if isinstance(item, getattr(annotated_types, attribute.capitalize()))
        ]
        return _annotation_text(inner) + (f" ({', '.join(bounds)})" if bounds else "")
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{value}`" for value in arguments)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_annotation_text(argument) for argument in arguments)
    if origin is list:
        return f"list of {_annotation_text(arguments[0])}"
    if origin is dict:
        return f"mapping of {_annotation_text(arguments[0])} to {_annotation_text(arguments[1])}"
    if annotation is type(None):
        return "null"
    if annotation is typing.Any:
        return "any"
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return _tag(annotation) or "section"
    return getattr(annotation, "__name__", str(annotation))


def _default_text(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default
    if isinstance(value, BaseModel):
        return "its keys' defaults"
    return f"`{json.dumps(value)}`"


def _docstring(model: type[BaseModel], where: str) -> str:
    text = inspect.getdoc(model) if model.__doc__ else ""
    if not text:
        log.warning("configuration reference: %s (%s) has no docstring", where, model.__name__)
    return " ".join(text.split("\n\n")[0].split())


def _escape(text: str) -> str:
    """Table-safe Markdown: a pipe would split the cell, a newline the row."""
    return text.replace("|", "\\|").replace("\n", " ")


# --------------------------------------------------------------------------- command line


def cli_reference() -> str:
    """The ``--help`` of run.py and of each of its commands."""
    import click

    _importable()
    import run

    group = next(value for value in vars(run).values() if isinstance(value, click.Group))
    sections = []
    with click.Context(group, info_name="python run.py", terminal_width=100) as context:
        sections.append(f"## python run.py\n\n```\n{group.get_help(context)}\n```")
        for name in group.list_commands(context):
            command = group.get_command(context, name)
            with click.Context(command, info_name=name, parent=context, terminal_width=100) as sub:
                sections.append(f"## python run.py {name}\n\n```\n{command.get_help(sub)}\n```")
    return "\n\n".join(sections) + "\n"


def _importable() -> None:
    """The project is run from its folder, not installed: make its packages importable."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
