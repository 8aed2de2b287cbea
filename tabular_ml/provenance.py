"""Where a model came from: the code revision."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git_revision(path: str | Path = Path(__file__).resolve().parents[1]) -> str:
    """The commit checked out at ``path`` (``+dirty`` when files differ), or ``unknown``."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()
    try:
        revision = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{revision}+dirty" if dirty else revision
