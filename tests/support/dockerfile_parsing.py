"""Reading a Dockerfile's instructions without Docker (the serving and the pipeline image's),
and the ``name==version`` files its ``pip install`` lines name."""

from __future__ import annotations

import shlex
from pathlib import Path

from packaging.utils import canonicalize_name


def parse_dockerfile(path: Path) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` in order: comments dropped, ``\\`` continuations joined."""
    instructions: list[tuple[str, str]] = []
    current = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # Docker also skips comment and empty lines inside a continuation
        if line.endswith("\\"):
            current += line[:-1].rstrip() + " "
            continue
        current += line
        keyword, _, arguments = current.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        current = ""
    assert not current, f"{path} ends inside a continuation line"
    return instructions


def arguments_of(keyword: str, instructions: list[tuple[str, str]]) -> list[str]:
    """The arguments of every ``keyword`` instruction, in order."""
    return [args for kw, args in instructions if kw == keyword]


def env_of(instructions: list[tuple[str, str]]) -> dict[str, str]:
    """Every ``ENV`` of the instructions, later ones winning (``k=v ...`` and legacy ``k v``)."""
    env: dict[str, str] = {}
    for arguments in arguments_of("ENV", instructions):
        parts = shlex.split(arguments)
        if "=" not in parts[0]:
            env[parts[0]] = " ".join(parts[1:])
            continue
        for part in parts:
            key, _, value = part.partition("=")
            env[key] = value
    return env


def read_pins(path: Path) -> dict[str, tuple[str, str]]:
    """canonical name -> (name as written, version) of a ``name==version`` file (requirements-serving.txt)."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"{path.name}: {line!r} is not pinned with =="
            pins[canonicalize_name(name)] = (name.strip(), version.strip())
    return pins
