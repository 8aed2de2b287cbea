"""Running one of the project's pipelines from inside a running step: `python run.py` in a child process.

ZenML refuses to start a pipeline run while another one is executing in the same process
(`zenml.execution.pipeline.utils.prevent_pipeline_execution`: the local orchestrator runs
steps in-process, so a pipeline called from a step is skipped and returns None). A child
process runs the pipeline exactly as the CLI does (config loading, the active stack's
tracker and `run_config`), against the same store and stack, as a separate run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from zenml.logger import get_logger

logger = get_logger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def run_pipeline_process(pipeline: str, config_path: Path, overrides: list[str]) -> str:
    """Run ``pipeline`` with a config file and overrides through run.py; return its last output line.

    Raises:
        RuntimeError: The run (or its configuration) failed; the message ends with its output's tail.
    """
    command = [sys.executable, str(PROJECT_ROOT / "run.py"), "--config", str(config_path)]
    command += ["--pipeline", pipeline, *overrides]
    logger.info("Starting the %s pipeline: %s", pipeline, " ".join(command[1:]))
    # The working directory and environment stay the caller's: the same ZenML store and stack.
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
        raise RuntimeError(f"the {pipeline} run exited with code {result.returncode}:\n{tail}")
    last_line = (result.stdout.strip().splitlines() or [""])[-1]
    logger.info("%s", last_line)
    return last_line
