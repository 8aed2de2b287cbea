"""State files replaced atomically and durably: a reader, or a crash, sees the old file or the new one.

The steps (the usual POSIX recipe): write a temporary file in the target's own directory (a
rename is atomic only within one file system), fsync it, rename it over the target, then fsync
the directory so the rename itself survives a power cut. Should any step fail (a full disk,
a removed directory), the temporary file is removed and the old file stays as it was.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

__all__ = ["fsync_directory", "fsync_file", "replace_durably", "write_atomically"]

logger = logging.getLogger(__name__)


def fsync_file(path: str | os.PathLike) -> None:
    """Flush ``path``'s content to the disk (a file written and closed by someone else)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(directory: str | os.PathLike) -> None:
    """Make the renames and new names in ``directory`` durable."""
    try:
        fsync_file(directory)
    except OSError as exc:  # some file systems cannot sync a directory; the rename stands
        logger.debug("cannot fsync directory %s: %s", directory, exc)


def replace_durably(temporary: str | os.PathLike, final: str | os.PathLike) -> None:
    """Rename a complete, fsynced ``temporary`` over ``final`` (same directory) and sync the directory."""
    os.replace(temporary, final)
    fsync_directory(Path(final).parent)


def write_atomically(path: str | os.PathLike, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path``'s content with ``data``: the old content or the new, never a part of either.

    Args:
        path: The file to write; its directory must exist.
        data: The whole new content.
        mode: The new file's permission bits (not filtered by the umask).

    Raises:
        OSError: When a step fails (a full disk, a missing directory); ``path`` is then unchanged
            and no temporary file is left. (A writer killed mid-write leaves its hidden
            ``.<name>.<token>.tmp``, never a damaged ``path``.)
    """
    final = Path(path)
    # A name of its own per writer: two processes replacing one file never write one temporary.
    temporary = final.with_name(f".{final.name}.{uuid.uuid4().hex[:12]}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            os.fchmod(fd, mode)  # os.open's mode is filtered by the umask
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        replace_durably(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
