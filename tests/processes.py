"""Waiting on and checking local processes and ports, for tests that start servers."""

from __future__ import annotations

import os
import socket
import time

from flavors.local_seldon.supervisor import free_port

__all__ = ["free_port", "group_alive", "port_is_free", "wait_for"]


def port_is_free(port: int) -> bool:
    """Nothing listens on ``port`` on 127.0.0.1 (connections may linger in TIME_WAIT)."""
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def wait_for(condition, seconds: float, every: float = 0.1) -> bool:
    """Poll ``condition()`` until it is true (True) or ``seconds`` have passed (False)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return False


def group_alive(pgid: int) -> bool:
    """Whether any process of the process group ``pgid`` is left."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
