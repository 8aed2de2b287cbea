"""Produce the items of an iterator ahead of their consumer: in a worker process, or a thread.

Batch scoring reads, cleans and checks the next chunk while the current one is scored. The
work on both sides is mostly Python holding the GIL (pandas on text columns, pandera,
scikit-learn's encoders), so a thread overlaps little; a forked worker process runs on the
second core. Items cross as pickles, which is cheap for DataFrames whose text values repeat
(pickle stores a repeated string once). Each pickle goes through a file in a spool directory
and only its name through the queue: a pipe holds 64 KB, so a 10 MB chunk sent through it
would wake the two processes in turn some 160 times, and on a busy machine each wake-up
waits for a core.

The worker is forked, not spawned: a spawned interpreter spends seconds importing pandas,
pandera and SQLAlchemy before its first chunk. A forked child of a process with threads (as
a ZenML step has) must not use what those threads may hold, so the child, before anything
else, takes the default signal handlers back, stops logging through the parent's handlers
and writes to the real stdout/stderr; the parent freezes the garbage collector across the
fork so the child never finalizes the parent's objects (database connections). The child
only runs the iterator and is killed (SIGKILL) when the consumer stops early.

Where ``fork`` is unavailable (or ``mode="thread"``), a thread produces the items instead.

With ``finish``, the last step of each item (scoring a chunk) is shared: the producer does it
itself when the consumer is behind (``ahead`` items already wait), else the consumer does it
on receipt. Neither side idles while the other has work, and a finished item crosses the
process boundary smaller than an unfinished one (predictions instead of feature rows).
"""

from __future__ import annotations

import contextvars
import gc
import logging
import multiprocessing
import os
import pickle
import queue
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import Any, Literal

logger = logging.getLogger(__name__)

Mode = Literal["auto", "process", "thread"]

_POLL_S = 0.5


def prefetched(
    make_items: Callable[[], Iterator[Any]],
    mode: Mode = "auto",
    ahead: int = 2,
    finish: Callable[[Any], Any] | None = None,
) -> Iterator[Any]:
    """The items of ``make_items()``, produced up to ``ahead`` items before they are consumed.

    Args:
        make_items: Creates the iterator; called in the worker process or thread.
        mode: ``process`` (a forked worker), ``thread``, or ``auto``: a process where ``fork``
            exists and there is more than one CPU, else a thread.
        ahead: How many produced items may wait (memory: ``ahead`` + 2 items at most).
        finish: Applied to every item exactly once, by whichever side is free (see the
            module doc); then ``finish(item)`` is what comes out. It must not depend on where
            it runs (a forked worker has its own copy of everything).

    Yields:
        The (finished) items in order. An exception of the producer, or of ``finish`` run
        by it, is raised here (from a process, with its message; one that cannot be pickled
        becomes a RuntimeError naming its type).
    """
    if mode == "auto":
        forkable = "fork" in multiprocessing.get_all_start_methods() and (os.cpu_count() or 1) > 1
        mode = "process" if forkable else "thread"
    if mode == "process":
        return _in_process(make_items, ahead, finish)
    return _in_thread(make_items, ahead, finish)


def _message(item: Any, finish: Callable[[Any], Any] | None, consumer_behind: bool) -> tuple[str, Any]:
    """What the producer hands over: the item, or (when the consumer is behind) it finished."""
    if finish is not None and consumer_behind:
        return "finished", finish(item)
    return "item", item


def _consumed(
    next_message: Callable[[], tuple[str, Any]], finish: Callable[[Any], Any] | None
) -> Iterator[Any]:
    """The consumer's side: finished items in order, the producer's error raised."""
    while True:
        kind, value = next_message()
        if kind == "item":
            yield value if finish is None else finish(value)
        elif kind == "finished":
            yield value
        elif kind == "error":
            raise value
        else:
            return


# --------------------------------------------------------------------------- thread


def _in_thread(
    make_items: Callable[[], Iterator[Any]], ahead: int, finish: Callable[[Any], Any] | None
) -> Iterator[Any]:
    handoff: queue.Queue = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def offer(message: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(message, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        items = None
        try:
            items = make_items()
            for item in items:
                if not offer(_message(item, finish, handoff.full())):
                    return
            offer(("done", None))
        except BaseException as error:  # handed to the consumer, raised there
            offer(("error", error))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    context = contextvars.copy_context()  # a ZenML step's logging context follows into the thread
    thread = threading.Thread(target=context.run, args=(produce,), name="prefetch", daemon=True)
    thread.start()
    try:
        yield from _consumed(handoff.get, finish)
    finally:
        stop.set()
        thread.join()


# --------------------------------------------------------------------------- process


def _in_process(
    make_items: Callable[[], Iterator[Any]], ahead: int, finish: Callable[[Any], Any] | None
) -> Iterator[Any]:
    context = multiprocessing.get_context("fork")
    handoff = context.Queue(maxsize=ahead)
    spool = tempfile.mkdtemp(prefix="prefetch-")  # the items' pickles: ahead + 1 files at most
    worker = context.Process(
        target=_produce, args=(make_items, finish, handoff, spool), name="prefetch", daemon=True
    )
    gc.freeze()  # the child must not collect (and finalize) objects of the parent
    try:
        worker.start()
    finally:
        gc.unfreeze()

    def next_message() -> tuple[str, Any]:
        while True:
            try:
                return _unspooled(*handoff.get(timeout=_POLL_S))
            except queue.Empty:
                if worker.is_alive():
                    continue
            try:  # it may have exited just after its last message
                return _unspooled(*handoff.get(timeout=_POLL_S))
            except queue.Empty:
                raise RuntimeError(
                    f"the prefetch worker process {worker.pid} ended without finishing "
                    f"(exit code {worker.exitcode}; killed for lack of memory?)"
                ) from None

    try:
        yield from _consumed(next_message, finish)
    finally:
        if worker.is_alive():
            worker.kill()
        worker.join()
        handoff.close()
        handoff.cancel_join_thread()
        shutil.rmtree(spool, ignore_errors=True)


def _produce(
    make_items: Callable[[], Iterator[Any]], finish: Callable[[Any], Any] | None, handoff, spool: str
) -> None:
    """The worker process: a message per item (see :func:`_message`), then ``done`` or an error."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handlers
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which kills this
    logging.disable(logging.CRITICAL)  # the parent's handlers may hold locks of absent threads
    sys.stdout = sys.__stdout__ or open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    sys.stderr = sys.__stderr__ or open(os.devnull, "w")  # noqa: SIM115
    try:
        for number, item in enumerate(make_items()):
            kind, value = _message(item, finish, handoff.full())
            path = os.path.join(spool, f"{number}.pickle")
            with open(path, "wb") as handle:
                pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
            handoff.put((kind, path))
        handoff.put(("done", None))
    except BaseException as error:
        handoff.put(("error", _picklable(error)))
    handoff.close()
    handoff.join_thread()  # everything is in the pipe before the process ends


def _unspooled(kind: str, value: Any) -> tuple[str, Any]:
    """An item message with the item read back from its spool file (then removed)."""
    if kind not in ("item", "finished"):
        return kind, value
    with open(value, "rb") as handle:
        item = pickle.load(handle)
    os.remove(value)
    return kind, item


def _picklable(error: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error
