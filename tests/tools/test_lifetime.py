"""A serving process dies with its parent (serving/lifetime.py ``die_with_parent``): a parent killed
with SIGKILL leaves no child serving on an orphaned port."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tests.support.paths import PROJECT_ROOT
from tests.support.processes import process_alive, wait_for

pytestmark = pytest.mark.tools

# The parent starts the child, says its pid, and waits to be killed.
PARENT = textwrap.dedent(
    """
    import subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]])
    print(child.pid, flush=True)
    time.sleep(120)
    """
)
# The child asks (or not) to die with its parent, then marks itself ready and lingers.
CHILD = textwrap.dedent(
    """
    import pathlib, sys, time
    from serving.lifetime import die_with_parent
    if "{ask}" == "yes":
        die_with_parent()
    pathlib.Path(sys.argv[1]).touch()
    time.sleep(120)
    """
)


def orphan_survives(tmp_path, ask: bool) -> bool:
    """Start parent -> child, kill the parent with SIGKILL once the child is ready: is the child left?"""
    ready = tmp_path / f"ready-{ask}"
    child_code = CHILD.replace("{ask}", "yes" if ask else "no")
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, child_code, str(ready)],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    child_pid = int(parent.stdout.readline())
    try:
        assert wait_for(ready.exists, 30), "the child never got ready"
        parent.kill()
        parent.wait(timeout=10)
        return not wait_for(lambda: not process_alive(child_pid), 5)
    finally:
        parent.kill()
        parent.stdout.close()
        if process_alive(child_pid):
            os.kill(child_pid, signal.SIGKILL)


def test_a_child_that_asked_goes_when_its_parent_is_killed(tmp_path):
    assert not orphan_survives(tmp_path, ask=True)


def test_a_child_that_did_not_ask_is_left_behind(tmp_path):
    # The control: without die_with_parent the same child outlives its parent.
    assert orphan_survives(tmp_path, ask=False)
