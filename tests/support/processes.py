"""Waiting on and checking local processes and ports, for tests that start servers."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import psutil

from flavors.local_seldon.supervisor import free_port

__all__ = ["free_port", "group_alive", "listeners", "port_is_free", "process_alive", "wait_for"]


def port_is_free(port: int) -> bool:
    """Nothing listens on ``port`` on 127.0.0.1 (connections may linger in TIME_WAIT)."""
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def listeners(port: int) -> str:
    """Who listens on ``port``: "pid (command line)" per process, for an assertion message."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            sockets = process.net_connections(kind="tcp")
        except psutil.Error:
            continue
        if any(s.status == psutil.CONN_LISTEN and s.laddr.port == port for s in sockets):
            found.append(
                f"{process.pid} ({' '.join(process.info['cmdline'] or [])[:200]}, ppid {process.ppid()})"
            )
    return "; ".join(found) or "no process found"


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


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` is running (Linux). A zombie is not: it has exited, and where
    PID 1 does not reap orphans (some containers), a daemon's zombie stays in the table."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # the state follows the parenthesized name
