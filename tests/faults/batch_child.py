"""Batch scoring in a process of its own, for the fault tests: ``python -m tests.faults.batch_child SPEC``.

SPEC is JSON: ``model`` (a pickled :class:`TrainedModel`), ``version``, ``source`` and ``sink``
(config dicts), ``chunk_rows``, ``store_dir``, ``scored_at`` (ISO) and ``stop_after``: once
that many chunks are written to the sink (the log line of chunk ``stop_after``), the process
prints ``STOPPED <n>`` and waits, to be killed. Without ``stop_after`` it runs to the end
and prints ``DONE <rows>``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pickle
import sys
import time
import uuid
from datetime import datetime

from pydantic import TypeAdapter

from tabular_ml.configuration.schema import SinkConfig, SourceConfig
from tabular_ml.inference.batch_scoring import BatchPredictions, run_batch_scoring


class StopAfter(logging.Handler):
    """Holds the run still after its ``chunks``-th chunk was written (batch scoring logs it then)."""

    def __init__(self, chunks: int):
        super().__init__()
        self.chunks = chunks

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("Chunk %d:") and record.args[0] == self.chunks:
            print(f"STOPPED {self.chunks}", flush=True)
            time.sleep(3600)


def score(spec: dict, stop_after: int | None = None) -> BatchPredictions:
    """One batch-scoring run as the spec says (in this process)."""
    with open(spec["model"], "rb") as handle:
        model = dataclasses.replace(pickle.load(handle), version=spec["version"])
    logger = logging.getLogger("tabular_ml.inference.batch_scoring")
    handler = StopAfter(stop_after) if stop_after else None
    if handler:
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
    try:
        return run_batch_scoring(
            model,
            TypeAdapter(SourceConfig).validate_python(spec["source"]),
            TypeAdapter(SinkConfig).validate_python(spec["sink"]),
            chunk_rows=spec["chunk_rows"],
            key_column=None,
            run_tag=uuid.uuid4().hex,
            store_dir=f"{spec['store_dir']}/{uuid.uuid4().hex}",
            progress=False,
            scored_at=datetime.fromisoformat(spec["scored_at"]) if spec.get("scored_at") else None,
            prefetch="process",
        )
    finally:
        if handler:
            logger.removeHandler(handler)


if __name__ == "__main__":
    arguments = json.loads(sys.argv[1])
    result = score(arguments, arguments.get("stop_after"))
    print(f"DONE {result.rows}", flush=True)
