"""The code revision a model records (adapters/git_revision.py ``git_revision``), on throwaway
git repositories."""

import subprocess

import pytest

from adapters.git_revision import git_revision

pytestmark = pytest.mark.tools


def git(folder, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_the_commit_checked_out_and_dirty_when_a_tracked_file_differs(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "a.py").write_text("A = 1\n")
    git(tmp_path, "add", "a.py")
    git(tmp_path, "commit", "-q", "-m", "one")
    head = git(tmp_path, "rev-parse", "HEAD")
    assert git_revision(tmp_path) == head
    (tmp_path / "new.py").write_text("untracked files do not count\n")
    assert git_revision(tmp_path) == head
    (tmp_path / "a.py").write_text("A = 2\n")
    assert git_revision(tmp_path) == f"{head}+dirty"


def test_outside_a_repository_it_is_unknown(tmp_path):
    assert git_revision(tmp_path) == "unknown"
