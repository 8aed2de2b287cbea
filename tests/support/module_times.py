"""Seconds per test file from `make test`'s junit report, longest first: what SLOWEST_FIRST in
tests/conftest.py is ordered by. Usage: python -m tests.support.module_times [test-artifacts/junit.xml]"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ElementTree
from collections import Counter


def seconds_per_file(junit_path: str) -> Counter:
    totals: Counter = Counter()
    for case in ElementTree.parse(junit_path).iter("testcase"):
        parts = case.get("classname", "").split(".")  # tests.unit.test_x[.TestClass]
        module = next((i for i, part in enumerate(parts) if part.startswith("test_")), len(parts) - 1)
        totals["/".join(parts[: module + 1]) + ".py"] += float(case.get("time", 0))
    return totals


if __name__ == "__main__":
    for module, seconds in seconds_per_file(
        sys.argv[1] if len(sys.argv) > 1 else "test-artifacts/junit.xml"
    ).most_common():
        print(f"{seconds:8.1f}s  {module}")
