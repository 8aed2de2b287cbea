"""Produce the items of an iterator ahead of their consumer: in a worker process, or a thread.

Batch scoring reads, cleans, checks and scores the next chunk while the previous one's
predictions are written. The work is mostly Python holding the GIL (pandas on text columns,
scikit-learn's encoders), so a thread overlaps little; a forked worker process runs on the
second core. Items cross as pickles, each through a file in a spool directory with only its
name in the queue: a pipe holds 64 KB, so a few MB sent through it would wake the two
processes in turn dozens of times, and on a busy machine each wake-up waits for a core.

The worker is forked, not spawned: a spawned interpreter spends seconds importing pandas,
pandera and SQLAlchemy before its first chunk. A forked child of a process with threads (as
a ZenML step has) must not use what those threads may hold, so the child, before anything
else, takes the default signal handlers back, stops logging through the parent's handlers
and writes to the real stdout/stderr; the parent freezes the garbage collector across the
fork so the child never finalizes the parent's objects (database connections). The child
only runs the iterator. When the consumer stops early it is stopped with SIGTERM, which
unwinds it (so a worker of its own, in a nested ``prefetched``, is stopped as well), and
killed if that takes more than a few seconds; when the consumer's process is gone, the
child notices at its next hand-over and ends.

The worker keeps the memory it frees for its next item (on glibc, by raising the thresholds
above which ``malloc`` maps fresh pages and returns freed ones): item after item allocates
arrays of the same sizes, and mapping them anew costs a page fault per 4 KB touched. This
applies to the worker only, a process of ours that ends with the iterator.

Where ``fork`` is unavailable (or ``mode="thread"``), a thread produces the items instead.
"""

from __future__ import annotations

import contextvars
import ctypes
import gc
import logging
import multiprocessing
import os
import pickle
import platform
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
_STOP_S = 5.0


def prefetched[T](make_items: Callable[[], Iterator[T]], mode: Mode = "auto", ahead: int = 2) -> Iterator[T]:
    """The items of ``make_items()``, produced up to ``ahead`` items before they are consumed.

    Args:
        make_items: Creates the iterator; called in the worker process or thread.
        mode: ``process`` (a forked worker), ``thread``, or ``auto``: a process where ``fork``
            exists and there is more than one CPU, else a thread.
        ahead: How many produced items may wait (memory: ``ahead`` + 2 items at most).

    Yields:
        The items in order. An exception of the producer is raised here (from a process, with
        its message; one that cannot be pickled becomes a RuntimeError naming its type).
    """
    if mode == "auto":
        forkable = "fork" in multiprocessing.get_all_start_methods() and (os.cpu_count() or 1) > 1
        mode = "process" if forkable else "thread"
    if mode == "process":
        return _in_process(make_items, ahead)
    return _in_thread(make_items, ahead)


def _consumed[T](next_message: Callable[[], tuple[str, Any]]) -> Iterator[T]:
    """The consumer's side: the items in order, the producer's error raised."""
    while True:
        kind, value = next_message()
        if kind == "item":
            yield value
        elif kind == "error":
            raise value
        else:
            return


# --------------------------------------------------------------------------- thread


def _in_thread[T](make_items: Callable[[], Iterator[T]], ahead: int) -> Iterator[T]:
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
                if not offer(("item", item)):
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
        yield from _consumed(handoff.get)
    finally:
        stop.set()
        thread.join()


# --------------------------------------------------------------------------- process


def _in_process[T](make_items: Callable[[], Iterator[T]], ahead: int) -> Iterator[T]:
    context = multiprocessing.get_context("fork")
    handoff = context.Queue(maxsize=ahead)
    spool = tempfile.mkdtemp(prefix="prefetch-")  # the items' pickles: ahead + 1 files at most
    worker = context.Process(target=_produce, args=(make_items, handoff, spool), name="prefetch", daemon=True)
    gc.freeze()  # the child must not collect (and finalize) objects of the parent
    try:
        worker.start()
    except BaseException:
        shutil.rmtree(spool, ignore_errors=True)
        raise
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
        yield from _consumed(next_message)
    finally:
        if worker.is_alive():
            worker.terminate()
            worker.join(timeout=_STOP_S)
            if worker.is_alive():
                worker.kill()
        worker.join()
        handoff.close()
        handoff.cancel_join_thread()
        shutil.rmtree(spool, ignore_errors=True)


def _produce(make_items: Callable[[], Iterator[Any]], handoff, spool: str) -> None:
    """The worker process: ``("item", spool file)`` per item, then ``("done", None)`` or an error."""
    signal.signal(signal.SIGTERM, _unwind)  # not the parent's handlers
    # The parent still ends it as a daemon; unmarked here, it may start a worker of its own.
    multiprocessing.current_process().daemon = False
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which kills this
    logging.disable(logging.CRITICAL)  # the parent's handlers may hold locks of absent threads
    sys.stdout = sys.__stdout__ or open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    sys.stderr = sys.__stderr__ or open(os.devnull, "w")  # noqa: SIM115
    reuse_freed_memory()
    consumer = os.getppid()
    items = None
    try:
        items = make_items()
        for number, item in enumerate(items):
            path = os.path.join(spool, f"{number}.pickle")
            with open(path, "wb") as handle:
                pickle.dump(item, handle, protocol=pickle.HIGHEST_PROTOCOL)
            _hand_over(handoff, ("item", path), consumer, spool)
        _hand_over(handoff, ("done", None), consumer, spool)
    except Exception as error:
        _hand_over(handoff, ("error", _picklable(error)), consumer, spool)
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()  # a nested prefetch stops its own worker
    handoff.close()
    handoff.join_thread()  # everything is in the pipe before the process ends


def _unwind(signum, frame) -> None:
    raise SystemExit(128 + signum)


def _hand_over(handoff, message: tuple[str, Any], consumer: int, spool: str) -> None:
    """Put a message, waiting while the queue is full, unless the consumer's process is gone.

    Then the spool directory, which the consumer would have removed, is removed here.
    """
    while True:
        try:
            handoff.put(message, timeout=_POLL_S)
            return
        except queue.Full:
            if os.getppid() != consumer:
                shutil.rmtree(spool, ignore_errors=True)
                raise SystemExit(1) from None


def reuse_freed_memory(keep_mb: int = 256) -> bool:
    """Have glibc's malloc keep freed memory (up to ``keep_mb``) for reuse; False elsewhere.

    Blocks under 64 MB come from the heap instead of fresh mappings, and up to ``keep_mb`` of
    free heap stays mapped instead of being returned to the system after each item.
    """
    if platform.libc_ver()[0] != "glibc":
        return False
    mallopt = ctypes.CDLL(None).mallopt
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    return bool(mallopt(m_mmap_threshold, 64 << 20)) and bool(mallopt(m_trim_threshold, keep_mb << 20))


def _unspooled(kind: str, value: Any) -> tuple[str, Any]:
    """An item message with the item read back from its spool file (then removed)."""
    if kind != "item":
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
