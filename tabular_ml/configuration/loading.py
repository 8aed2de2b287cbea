"""Loading a run configuration: YAML file + dotted command-line overrides + typed validation."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError


class ConfigError(ValueError):
    """A configuration problem, phrased as one line a user can act on."""


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with one-line errors for a missing, unreadable or non-mapping file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: invalid YAML{where}: {getattr(error, 'problem', error)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level, got {type(data).__name__}")
    return data


def apply_overrides(config: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``config`` with ``dotted.key=value`` overrides applied.

    Values parse as YAML scalars or lists (``0.3``, ``true``, ``[a, b]``, ``null``).
    """
    merged = copy.deepcopy(config)
    for override in overrides:
        key, sep, raw_value = override.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"override {override!r}: expected dotted.key=value")
        try:
            value = yaml.safe_load(raw_value)
        except yaml.YAMLError:
            raise ConfigError(f"override {override!r}: the value is not valid YAML") from None
        *parents, leaf = key.split(".")
        node: Any = merged
        for depth, part in enumerate(parents):
            node = _child(node, part, override, ".".join(parents[: depth + 1]))
        if isinstance(node, list):
            node[_list_index(node, leaf, override)] = value
        else:
            node[leaf] = value
    return merged


def _list_index(items: list, part: str, override: str) -> int:
    if not part.isdigit() or int(part) >= len(items):
        raise ConfigError(
            f"override {override!r}: {part!r} is not an index of a list of {len(items)} item(s)"
        )
    return int(part)


def _child(node: Any, part: str, override: str, where: str) -> Any:
    """Descend one level of an override's path, creating sections as needed."""
    if isinstance(node, list):
        child = node[_list_index(node, part, override)]
    else:
        if node.get(part) is None:  # an absent or empty section (`cleaning:` alone is None in YAML)
            node[part] = {}
        child = node[part]
    if not isinstance(child, (dict, list)):
        raise ConfigError(f"override {override!r}: {where} is a value, not a section")
    return child


def _node(annotation: Any) -> tuple | None:
    """What a field annotation holds, as far as error locations are concerned.

    ("model", cls), ("union", {tag: cls}) for a discriminated union, ("items", node) for a
    list or dict of such things, or None for plain values.
    """
    origin, args = get_origin(annotation), [a for a in get_args(annotation) if a is not type(None)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return ("model", annotation)
    if origin is Annotated:
        return _node(args[0])
    if origin in (list, dict):
        inner = _node(args[-1]) if args else None
        return ("items", inner) if inner else None
    if len(args) == 1:
        return _node(args[0])
    models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
    if models:  # pydantic labels a union member by its tag (discriminated) or its class name (smart)
        return ("union", {label: m for m in models for label in (_tag_of(m), m.__name__)})
    return None


def _tag_of(model: type[BaseModel]) -> str:
    """The value of a model's single-valued Literal field (its discriminator tag)."""
    for field in model.model_fields.values():
        if get_origin(field.annotation) is Literal and len(get_args(field.annotation)) == 1:
            return str(get_args(field.annotation)[0])
    return model.__name__


def _is_type_label(part: str) -> bool:
    return "[" in part or part in {"str", "int", "float", "bool", "list", "dict", "none"}


def _walk(model: type[BaseModel], location: tuple) -> tuple[list[str], type[BaseModel] | None, bool]:
    """Follow a pydantic error location through the nested models.

    Returns the location as the user wrote it, without the tags pydantic inserts for
    discriminated unions (``source.file.pth`` -> ``source.pth``), and the model that
    owns the last key, when there is one.
    """
    node: tuple | None = ("model", model)
    owner: type[BaseModel] | None = None
    clean: list[str] = []
    for part in map(str, location):
        if node and node[0] == "union":
            if part in node[1]:  # the label pydantic inserted, not a key the user wrote
                node = ("model", node[1][part])
                continue
            node = None
            if _is_type_label(part):  # a non-model union member, e.g. 'list[any]'
                return clean, None, True
        clean.append(part)
        if node and node[0] == "model":
            owner = node[1]
            field = owner.model_fields.get(part)
            node = _node(field.annotation) if field else None
        elif node and node[0] == "items":  # this part is a list index or a dict key
            owner, node = None, node[1]
        else:
            owner, node = None, None
    return clean, owner, False


def describe_validation_error(error: ValidationError, model: type[BaseModel], prefix: str) -> str:
    """One line per problem: ``prefix.dotted.key: what is wrong (what was expected)``."""
    lines = []
    walked = [(item, *_walk(model, item["loc"])) for item in error.errors()]
    for item, location, owner, other_member in walked:
        if other_member and any(loc[: len(location)] == location and not o for _, loc, _, o in walked):
            continue  # the value fits another member of the union better; report that one
        dotted = ".".join([prefix, *location])
        if item["type"] == "extra_forbidden":
            expected = f"; expected one of: {', '.join(owner.model_fields)}" if owner else ""
            lines.append(f"{dotted}: unknown key{expected}")
        elif item["type"] == "missing":
            lines.append(f"{dotted}: required key is missing")
        else:
            got = item.get("input")
            shown = "" if isinstance(got, (dict, list)) else f" (got {got!r})"
            lines.append(f"{dotted}: {item['msg'][0].lower()}{item['msg'][1:]}{shown}")
    return "\n".join(lines)


def validate_section(config: dict[str, Any], section: str, model: type[BaseModel]) -> BaseModel:
    """Validate ``config[section]`` against ``model``; raise :class:`ConfigError` naming each bad key."""
    try:
        return model.model_validate(config.get(section) or {})
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error, model, section)) from None
