"""The process that owns a local model server's port and swaps the servers behind it.

The supervisor binds the public port once and hands the listening socket to each model
server it starts (``python -m serving`` with ``SERVING_LISTEN_FDS``). Old and new servers
accept from the *same* socket, so a swap loses no connection:

1. start the new server beside the old one, with its own private port for health checks;
2. once the new one answers ``/health/status`` there, it already shares the public socket;
3. stop the old one gracefully: SIGTERM, and uvicorn finishes the requests in flight within
   the server's graceful period (at least its body deadline); SIGKILL to its process group
   only after that period and a margin.

A new server that does not become healthy is stopped and the old one keeps serving; so does
a swap request that cannot be read or started, or whose outcome cannot be recorded (a full
state disk: the swap is refused rather than serve a version ``active.json`` denies); the
supervisor never dies of one. The state files are replaced atomically and durably
(``tabular_ml.data.atomic_files``): a reader or a crash sees the old JSON or the new one.
Each server runs in its own process group, which is what gets signalled, so no worker
or metrics process outlives it; a server that dies is cleaned up and restarted. Every
server process also dies with the supervisor (``PR_SET_PDEATHSIG``), so a killed
supervisor leaves nothing answering behind ZenML's back.

The deploy step talks to it through two files in the service's runtime folder:
``target.json`` (what to serve next, followed by SIGHUP) and ``active.json`` (what is
served now, and the outcome of the last request).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

logger = logging.getLogger(__name__)

TARGET_FILE = "target.json"
ACTIVE_FILE = "active.json"
SWAP_LOCK_FILE = "swap.lock"
HEALTH_PATH = "health/status"
STOP_MARGIN_S = 5.0  # after the server's own graceful period, before SIGKILL
MAX_RESTARTS = 5  # within RESTART_WINDOW_S; then the supervisor gives up and exits
RESTART_WINDOW_S = 60.0


def free_port() -> int:
    """A port the OS considers free on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_command() -> list[str]:
    """The project's model server (``python -m serving``), as the image runs it.

    Its settings come from the environment :meth:`Supervisor.start_server` builds: the inherited
    sockets (``SERVING_LISTEN_FDS``: the shared public port and a private health-check port),
    127.0.0.1 for a metrics port of its own, and no keep-alive (a client reusing an idle
    connection just as a replaced server exits would lose its request, a race no server-side
    drain can close; the app then answers ``Connection: close``).
    """
    return [sys.executable, "-m", "serving"]


def listening_socket(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """A bound, listening TCP socket that child processes can inherit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


@dataclass
class Server:
    """One version's model server: ``workers`` single-worker processes in one process group.

    Each process accepts on the shared public socket and answers health checks on a private port
    of its own, so readiness means every worker is ready. One process per worker, rather than
    uvicorn's own process manager, because each must drain on SIGTERM (serving.server's
    ``DrainingServer``), which uvicorn's manager cannot run.
    """

    processes: list[subprocess.Popen]
    private_ports: list[int]
    bundle_dir: str
    model_version: str
    metrics: socket.socket | None = None  # a metrics socket of this server's own (no fixed port)
    metrics_dir: str | None = None  # PROMETHEUS_MULTIPROC_DIR of several workers
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        """The first process's pid: the process group's id."""
        return self.processes[0].pid

    @property
    def health_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}/{HEALTH_PATH}" for port in self.private_ports]

    def exited(self) -> subprocess.Popen | None:
        """A process of the server that has exited, if any."""
        return next((process for process in self.processes if process.poll() is not None), None)

    def alive(self) -> bool:
        return self.exited() is None

    def stop(self, grace_s: float) -> None:
        """SIGTERM to every process, SIGKILL to whatever is left of the group after ``grace_s``.

        Each process stops accepting, finishes the requests in flight within its graceful period
        (``grace_s`` must exceed it) and exits.
        """
        for process in self.processes:
            try:
                process.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and _group_exists(self.pid):
            for process in self.processes:
                process.poll()  # reap each so the group can empty
            time.sleep(0.05)
        _signal_group(self.pid, signal.SIGKILL)
        for process in self.processes:
            process.wait()
        if self.metrics is not None:
            self.metrics.close()
        if self.metrics_dir is not None:
            shutil.rmtree(self.metrics_dir, ignore_errors=True)


def _healthy(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Supervisor:
    """Keeps exactly one healthy server behind the public socket; swaps on request.

    Args:
        public: The listening socket clients connect to (its port never changes).
        command: The server command (``server_command()``; its settings come from the env).
        state_dir: Where ``target.json`` and ``active.json`` live.
        env: The environment for servers; ``MODEL_DIR`` and the socket variables are added.
        ready_timeout_s: How long a new server may take to answer its health check.
        metrics: A listening socket for the servers' Prometheus metrics (a fixed port), handed
            down like ``public``; None: each server binds a free metrics port of its own.
        stop_grace_s: How long a stopped server may take to finish its requests (its
            ``SERVING_GRACEFUL_SHUTDOWN_S``) before the margin and SIGKILL.
        workers: Processes per server.
        max_restarts: Crashes restarted within ``RESTART_WINDOW_S``; one more and it gives up
            (exit code 4, the state file saying so).
    """

    def __init__(
        self,
        public: socket.socket,
        command: list[str],
        state_dir: str | Path,
        env: dict[str, str],
        ready_timeout_s: float = 120.0,
        cwd: str | Path | None = None,
        metrics: socket.socket | None = None,
        stop_grace_s: float = 15.0,
        workers: int = 1,
        max_restarts: int = MAX_RESTARTS,
    ) -> None:
        self.stop_grace_s = stop_grace_s
        self.max_restarts = max_restarts
        self.workers = workers
        self.public = public
        self.metrics = metrics
        self.command = command
        self.state_dir = Path(state_dir)
        self.env = env
        self.ready_timeout_s = ready_timeout_s
        self.cwd = cwd
        self.current: Server | None = None
        self.restarts: list[float] = []
        self._swap_requested = False
        self._stop_requested = False

    # ------------------------------------------------------------------ servers

    def start_server(self, bundle_dir: str, model_version: str) -> Server:
        """Start a server's processes on the public socket plus private ones; does not wait for them."""
        # Imported here, not at the top: ZenML's CLI imports this flavor with only the flavors
        # package resolvable (`zenml model-deployer models list`), not the project's others.
        from serving.lifetime import die_with_parent

        own_metrics = listening_socket("127.0.0.1", 0) if self.metrics is None else None
        metrics = self.metrics or own_metrics
        metrics_dir = tempfile.mkdtemp(prefix="serving-metrics-") if self.workers > 1 else None
        env = {
            **self.env,
            "MODEL_DIR": bundle_dir,
            "SERVING_HOST": "127.0.0.1",
            "SERVING_WORKERS": "1",
            "SERVING_KEEP_ALIVE_S": "0",
            "SERVING_GRACEFUL_SHUTDOWN_S": f"{self.stop_grace_s:g}",
            "SERVING_METRICS_FD": str(metrics.fileno()),
            "SERVING_METRICS_PORT": str(metrics.getsockname()[1]),  # the app answers scrapes there
        }
        if metrics_dir is not None:
            env["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir  # the workers' values summed on a scrape
        processes, ports = [], []
        for _ in range(self.workers):
            private = listening_socket("127.0.0.1", 0)
            fds = (self.public.fileno(), private.fileno(), metrics.fileno())
            group = processes[0].pid if processes else 0  # 0: the first starts a group of its own
            processes.append(
                subprocess.Popen(
                    self.command,
                    env={**env, "SERVING_LISTEN_FDS": f"{fds[0]},{fds[1]}"},
                    cwd=self.cwd,
                    pass_fds=fds,
                    process_group=group,  # one group per server: signalled and reaped as one
                    preexec_fn=die_with_parent,
                )
            )
            ports.append(private.getsockname()[1])
            private.close()  # the child holds its own copy
        logger.info(
            "Started server pids %s for version %s (health ports %s)",
            [process.pid for process in processes],
            model_version,
            ports,
        )
        return Server(processes, ports, bundle_dir, model_version, own_metrics, metrics_dir)

    def wait_ready(self, server: Server) -> str | None:
        """None once every process answers its health check; else why not."""
        deadline = time.monotonic() + self.ready_timeout_s
        waiting = list(server.health_urls)
        while time.monotonic() < deadline:
            exited = server.exited()
            if exited is not None:
                return f"the server exited with code {exited.returncode} while starting"
            waiting = [url for url in waiting if not _healthy(url)]
            if not waiting:
                return None
            time.sleep(0.2)
        return f"the server did not answer {HEALTH_PATH} within {self.ready_timeout_s:g}s"

    def bring_up(self, bundle_dir: str, model_version: str) -> str | None:
        """Start a server and make it current once healthy; None on success, else the error."""
        server = self.start_server(bundle_dir, model_version)
        error = self.wait_ready(server)
        if error:
            server.stop(grace_s=1.0)  # it never served: nothing in flight
            logger.error("Version %s did not start: %s", model_version, error)
            return error
        old, self.current = self.current, server
        if old is not None:
            logger.info("Version %s is ready; stopping version %s", model_version, old.model_version)
            old.stop(self.stop_grace_s + STOP_MARGIN_S)
        return None

    # ------------------------------------------------------------------ state files

    def write_active(self, **outcome: Any) -> bool:
        """Record what is served now in ``active.json``; False (logged) when the file cannot be written.

        A failed write (a full disk) leaves the previous complete file; the supervisor keeps serving.
        """
        state = {
            "model_version": self.current.model_version if self.current else None,
            "bundle_dir": self.current.bundle_dir if self.current else None,
            "server_pid": self.current.pid if self.current else None,
            "supervisor_pid": os.getpid(),
            **outcome,
        }
        try:
            _write_state(self.state_dir / ACTIVE_FILE, state)
        except OSError as exc:
            logger.error("Cannot write %s (it keeps its previous content): %s", ACTIVE_FILE, exc)
            return False
        return True

    def _swap(self) -> None:
        """Serve what ``target.json`` asks for; any failure is reported and the old server stays."""
        try:
            target = json.loads((self.state_dir / TARGET_FILE).read_text())
            request_id = target.get("request_id")
            target["bundle_dir"], target["model_version"]  # noqa: B018 - both required
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            logger.error("Cannot read the swap request %s: %s", TARGET_FILE, exc)
            self.write_active(outcome="failed", error=f"unreadable {TARGET_FILE}: {exc}")
            return
        try:
            self._swap_to(target, request_id)
        except Exception as exc:  # the old server keeps serving whatever went wrong
            logger.exception("The swap to version %s failed", target.get("model_version"))
            self.write_active(request_id=request_id, outcome="failed", error=f"{type(exc).__name__}: {exc}")

    def _swap_to(self, target: dict[str, Any], request_id: Any) -> None:
        if self.current and (self.current.model_version, self.current.bundle_dir) == (
            target["model_version"],
            target["bundle_dir"],
        ):
            self.write_active(request_id=request_id, outcome="unchanged")
            return
        # A swap whose outcome could not be recorded would serve a version the state file denies:
        # first make sure the state can be written (rewriting what is true now), else refuse it.
        if not self.write_active(outcome="swap requested", pending_request_id=request_id):
            logger.error(
                "Swap to version %s refused: its outcome could not be recorded", target["model_version"]
            )
            return
        error = self.bring_up(target["bundle_dir"], target["model_version"])
        self.write_active(request_id=request_id, outcome="failed" if error else "swapped", error=error)

    def _restart_crashed(self) -> bool:
        """Restart a server that died on its own; False when it keeps dying."""
        crashed = self.current
        assert crashed is not None
        exited = crashed.exited()
        logger.error("Server pid %s exited with code %s", exited.pid, exited.returncode)
        crashed.stop(grace_s=0)  # the rest of its processes
        now = time.monotonic()
        self.restarts = [t for t in self.restarts if now - t < RESTART_WINDOW_S] + [now]
        if len(self.restarts) > self.max_restarts:
            error = f"the server died {len(self.restarts)} times within {RESTART_WINDOW_S:g} s; giving up"
            logger.error("%s", error)
            self.current = None  # nothing serves: the state file must not name a server
            self.write_active(outcome="gave up", error=error)
            return False
        self.current = None
        error = self.bring_up(crashed.bundle_dir, crashed.model_version)
        self.write_active(outcome="restarted" if not error else "failed", error=error)
        return error is None

    # ------------------------------------------------------------------ main loop

    def run(self, bundle_dir: str, model_version: str) -> int:
        """Serve until SIGTERM/SIGINT; returns the exit code.

        The sockets are closed before returning: ZenML's exit handler removes the daemon's PID
        file, which is when ZenML takes the service for stopped, and the port must be free by then.
        """
        try:
            return self._serve(bundle_dir, model_version)
        finally:
            self.public.close()
            if self.metrics is not None:
                self.metrics.close()

    def _serve(self, bundle_dir: str, model_version: str) -> int:
        signal.signal(signal.SIGHUP, lambda *_: setattr(self, "_swap_requested", True))
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: setattr(self, "_stop_requested", True))
        error = self.bring_up(bundle_dir, model_version)
        self.write_active(outcome="started" if not error else "failed", error=error)
        if error:
            return 3
        while not self._stop_requested:
            if self._swap_requested:
                self._swap_requested = False
                self._swap()
            elif self.current is not None and not self.current.alive():
                if not self._restart_crashed():
                    return 4
            time.sleep(0.1)
        if self.current is not None:
            self.current.stop(self.stop_grace_s + STOP_MARGIN_S)
        return 0


class SwapFailed(RuntimeError):
    """The new version did not start (the old one keeps serving), or the supervisor did not answer."""


def request_swap(
    state_dir: Path, supervisor_pid: int, bundle_dir: str, model_version: str, timeout: float
) -> str:
    """Ask a running supervisor to serve another bundle, blue/green; returns the outcome.

    Writes ``target.json`` and sends SIGHUP, then waits for ``active.json`` to report this
    request's outcome. Two callers at once (two deployments, a CLI and a step) take turns: each
    holds a file lock from writing its target to reading its outcome, so neither overwrites the
    other's target before the supervisor has read it.

    Returns:
        ``"swapped"`` or ``"unchanged"``.

    Raises:
        SwapFailed: When the new server did not become healthy (the old one keeps serving) or
            the supervisor did not answer within ``timeout`` seconds.
    """
    with (state_dir / SWAP_LOCK_FILE).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        request_id = uuid.uuid4().hex
        target = {"bundle_dir": bundle_dir, "model_version": model_version, "request_id": request_id}
        try:
            _write_state(state_dir / TARGET_FILE, target)
        except OSError as exc:
            served = read_state(state_dir / ACTIVE_FILE).get("model_version")
            raise SwapFailed(
                f"cannot write the swap request {state_dir / TARGET_FILE}: {exc}; "
                f"version {served} keeps serving"
            ) from exc
        os.kill(supervisor_pid, signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            served = read_state(state_dir / ACTIVE_FILE)
            if served.get("request_id") == request_id:
                if served.get("outcome") == "failed":
                    raise SwapFailed(
                        f"version {model_version} did not start ({served.get('error')}); "
                        f"version {served.get('model_version')} keeps serving"
                    )
                return served["outcome"]
            time.sleep(0.1)
    raise SwapFailed(
        f"the model server did not answer a switch to version {model_version} in {timeout:g}s "
        f"(its log says why; a full or read-only {state_dir} makes it refuse swaps)"
    )


def _write_state(path: Path, state: dict[str, Any]) -> None:
    """Replace a state file atomically and durably: readers and crashes see the old or the new JSON."""
    # Imported here, not at the top: ZenML's CLI imports this flavor with only the flavors
    # package resolvable, not the project's library.
    from tabular_ml.data.atomic_files import write_atomically

    write_atomically(path, json.dumps(state).encode())


def read_state(path: Path) -> dict[str, Any]:
    """A state file's content; {} while it does not exist or is being replaced."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def main(argv: list[str] | None = None) -> int:
    """Run a supervisor without ZenML (for tests and debugging): see ``--help``."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="the public port on 127.0.0.1")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--metrics-port", type=int, help="a fixed metrics port on 127.0.0.1 (default: any)")
    parser.add_argument("--ready-timeout", type=float, default=120.0)
    parser.add_argument("--max-restarts", type=int, default=MAX_RESTARTS, help="within a minute, then exit 4")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s supervisor %(message)s")
    project = str(Path(__file__).resolve().parents[2])
    env = {**os.environ}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [project, env.get("PYTHONPATH")]))
    supervisor = Supervisor(
        listening_socket("127.0.0.1", args.port),
        server_command(),
        args.state_dir,
        env,
        ready_timeout_s=args.ready_timeout,
        cwd=project,
        metrics=listening_socket("127.0.0.1", args.metrics_port) if args.metrics_port else None,
        workers=args.workers,
        max_restarts=args.max_restarts,
    )
    return supervisor.run(args.bundle, args.version)


if __name__ == "__main__":
    sys.exit(main())
