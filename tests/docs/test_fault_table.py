"""The operations guide's "When things fail" table names where each fault is tested: those files
exist, and every file of the fault suite is named."""

from __future__ import annotations

import re

from tests.support.paths import PROJECT_ROOT

PAGE = (PROJECT_ROOT / "docs" / "operations.md").read_text()


def table_rows() -> list[list[str]]:
    section = PAGE.split("## When things fail", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split(" | ") for line in section.splitlines() if line.startswith("| ")]
    return rows[1:]  # the header


def test_every_fault_names_test_files_that_exist():
    rows = table_rows()
    assert len(rows) >= 10
    for row in rows:
        named = re.findall(r"`(tests/[^`]+\.py)`", row[-1])
        assert named, row
        assert all((PROJECT_ROOT / path).is_file() for path in named), row


def test_every_file_of_the_fault_suite_is_in_the_table():
    named = {path for row in table_rows() for path in re.findall(r"`(tests/[^`]+\.py)`", row[-1])}
    suite = {f"tests/faults/{path.name}" for path in (PROJECT_ROOT / "tests" / "faults").glob("test_*.py")}
    assert suite <= named, suite - named
