"""Tying a serving process's life to its parent's."""

from __future__ import annotations

import ctypes
import signal

PR_SET_PDEATHSIG = 1


def die_with_parent(signum: int = signal.SIGTERM) -> None:
    """Ask Linux to send ``signum`` to this process when its parent dies (a no-op elsewhere).

    A local server's processes are a tree (supervisor -> microservice -> metrics server);
    without this, killing a parent with SIGKILL leaves its children serving on orphaned ports.
    """
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, int(signum))
    except (OSError, AttributeError):
        pass
