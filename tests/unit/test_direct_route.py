"""The metrics batcher of the direct predictions route, against seldon-core's own SeldonMetrics."""

from __future__ import annotations

import threading

import pytest
from seldon_core.metrics import SeldonMetrics

from serving.direct_route import MetricsBatcher
from tests.processes import wait_for


@pytest.fixture
def target():
    """seldon-core's metrics store; its manager process is stopped after the test."""
    metrics = SeldonMetrics()
    yield metrics
    metrics._manager.shutdown()


def _values(metrics: SeldonMetrics) -> dict[tuple, float]:
    return {
        (key[1], key[2]): item["value"] for worker in metrics.data.values() for key, item in worker.items()
    }


def test_counters_are_summed_and_none_is_lost_under_threads(target):
    batcher = MetricsBatcher(target, flush_s=0.2)
    tags = {"class": "Yes", "served_model_version": "3"}

    def hammer():
        for _ in range(500):
            batcher.add([{"type": "COUNTER", "key": "predicted_class_total", "value": 1, "tags": dict(tags)}])
            batcher.add([{"type": "GAUGE", "key": "scoring_path", "value": 1, "tags": {"path": "fast"}}])

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    def counted() -> float:
        return sum(v for (key, _), v in _values(target).items() if key == "predicted_class_total")

    assert wait_for(lambda: counted() == 2000, 5), counted()
    gauges = [v for (key, _), v in _values(target).items() if key == "scoring_path"]
    assert gauges == [1]


def test_flush_hands_over_at_once_and_timers_one_by_one(target):
    batcher = MetricsBatcher(target, flush_s=3600)
    batcher.add([{"type": "COUNTER", "key": "c", "value": 2, "tags": {"a": "1"}}])
    batcher.add([{"type": "COUNTER", "key": "c", "value": 3, "tags": {"a": "1"}}])
    batcher.add([{"type": "COUNTER", "key": "c", "value": 1, "tags": {"a": "2"}}])
    batcher.add([{"type": "TIMER", "key": "t", "value": 20.0}, {"type": "TIMER", "key": "t", "value": 40.0}])
    assert _values(target) == {}
    batcher.flush()
    values = _values(target)
    assert sorted(v for (key, _), v in values.items() if key == "c") == [1, 5]
    (timer,) = [v for (key, _), v in values.items() if key == "t"]
    assert timer[1] == 0.06  # the histogram's sum of observations, in seconds
