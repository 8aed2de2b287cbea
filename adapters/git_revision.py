"""Where a model came from: the code revision."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path


def git_revision(path: str | Path = Path(__file__).resolve().parents[1]) -> str:
    """The commit checked out at ``path`` (``+dirty`` when files differ), or ``unknown``."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(path), *args], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()

    try:
        revision = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{revision}+dirty" if dirty else revision


def library_fingerprint(root: Path = Path(__file__).resolve().parents[1]) -> str:
    """SHA-256 of the domain code the steps call: every module under ``root``'s tabular_ml/ and
    serving/, subpackages included.

    ZenML's cache key covers a step's own source, parameters and inputs, not the library
    functions it calls; pipelines add this to their cache policy so that changing, say,
    the split logic invalidates the cached split instead of silently reusing it.
    """
    digest = hashlib.sha256()
    for path in sorted([*root.glob("tabular_ml/**/*.py"), *root.glob("serving/**/*.py")]):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
