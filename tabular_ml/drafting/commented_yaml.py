"""YAML text with comments where a human should look (PyYAML writes no comments).

Sections are written in block style, one key per line; a value made only of scalars (a
number, a list of strings, a column's ``{kind: numeric, min: 0, max: 80}``) is written on
its key's line in flow style. Every scalar goes through ``yaml.safe_dump``, so text that
YAML would read as something else (``"Yes"``, ``"0"``, ``"null"``) is quoted and the text
loads back to exactly the data it was written from.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import yaml

KeyPath = tuple[str, ...]

#: Mappings this deep (``parameters.contract.columns.tenure``) may sit on one line; sections never do.
ONE_LINE_DEPTH = 3


@dataclass
class Comments:
    """Comments and blank lines by the path of the key they belong to (``("parameters", "task")``).

    ``above``: lines before the key; ``trailing``: after the key's value on its line (a
    one-line value only); ``after``: lines after the last key of the mapping at a path;
    ``gap_before``: keys preceded by a blank line.
    """

    above: dict[KeyPath, list[str]] = field(default_factory=lambda: defaultdict(list))
    trailing: dict[KeyPath, str] = field(default_factory=dict)
    after: dict[KeyPath, list[str]] = field(default_factory=lambda: defaultdict(list))
    gap_before: set[KeyPath] = field(default_factory=set)


def flow(value: Any) -> str:
    """One value as one line of YAML (flow style, quoted where YAML needs it)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**9, sort_keys=False, allow_unicode=True)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _is_one_line(value: Any) -> bool:
    """Scalars, lists of scalars and mappings of those: short enough for one line."""
    if isinstance(value, dict):
        return all(not isinstance(item, dict) and _is_one_line(item) for item in value.values())
    if isinstance(value, list):
        return all(not isinstance(item, (dict, list)) for item in value)
    return True


def _write_mapping(mapping: dict, path: KeyPath, indent: int, comments: Comments, lines: list[str]) -> None:
    pad = " " * indent
    for key, value in mapping.items():
        here = (*path, str(key))
        if here in comments.gap_before:
            lines.append("")
        lines += [f"{pad}# {note}" for note in comments.above.get(here, [])]
        trailing = f"  # {comments.trailing[here]}" if here in comments.trailing else ""
        deep_enough = len(here) >= ONE_LINE_DEPTH or not isinstance(value, dict)
        if value in ({}, []) or _is_one_line(value) and deep_enough:
            lines.append(f"{pad}{flow(key)}: {flow(value)}{trailing}")
            continue
        lines.append(f"{pad}{flow(key)}:{trailing}")
        if isinstance(value, dict):
            _write_mapping(value, here, indent + 2, comments, lines)
        else:
            _write_sequence(value, here, indent + 2, comments, lines)
    lines += [f"{pad}# {note}" for note in comments.after.get(path, [])]


def _write_sequence(items: list, path: KeyPath, indent: int, comments: Comments, lines: list[str]) -> None:
    pad = " " * indent
    for number, item in enumerate(items):
        if not isinstance(item, dict) or not item:
            lines.append(f"{pad}- {flow(item)}")
            continue
        nested: list[str] = []
        _write_mapping(item, (*path, str(number)), indent + 2, comments, nested)
        first = next(i for i, line in enumerate(nested) if line.strip() and not line.lstrip().startswith("#"))
        nested[first] = f"{pad}- {nested[first].lstrip()}"
        lines += nested


def render(document: dict, comments: Comments | None = None, header: list[str] = ()) -> str:
    """``document`` as commented YAML text, after ``header`` comment lines."""
    lines = [f"# {line}".rstrip() for line in header]
    body: list[str] = []
    _write_mapping(document, (), 0, comments or Comments(), body)
    if lines and body and body[0] != "":
        lines.append("")
    return "\n".join(lines + body) + "\n"
