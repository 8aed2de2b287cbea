"""The ZenML dashboard as a person sees it, in headless Chromium.

`zenml login --local` starts the local ZenML server (a daemon on a free loopback port, its SQLite
store in a throwaway ZENML_CONFIG_PATH); a small training run goes through that server; then a
browser opens the dashboard ZenML ships (zenml/zen_server/dashboard), clicks its way from the runs
list to the run and to the `evaluation_report` artifact's visualization, and reads what it shows.
What it shows is compared with what the run printed, not with the server's own answers.
Screenshots go to test-artifacts/dashboard/ (ignored by git); the test prints the folder. The
evaluation report's two (in the run's panel, and its full page at the panel's width) are the
docs' images: `make docs-images` writes them into docs/images/ (see tests/support/paths.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.cli import run_cli, small_training_args, training_steps, write_sample
from tests.support.browser import BrowserError, HeadlessChromium, chromium_binary
from tests.support.paths import PROJECT_ROOT, docs_image
from tests.support.processes import free_port, port_is_free, process_alive, wait_for
from tests.support.services import skip_or_fail

pytestmark = pytest.mark.integration

MODEL = "churn_dashboard"
# The run searches one algorithm, named lr below: one search_lr branch.
STEPS = training_steps("lr")
SCREENSHOTS = PROJECT_ROOT / "test-artifacts" / "dashboard"
ZENML_CLI = Path(sys.executable).with_name("zenml")
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class LocalServer:
    url: str
    env: dict[str, str]
    folder: Path
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainingRun:
    name: str
    dashboard_url: str  # the link run.py's output gives to the run's page
    holdout_rows: int
    holdout_roc_auc: str  # as printed, 4 decimals, the way the report shows it too


@pytest.fixture(scope="module")
def chromium() -> str:
    binary = chromium_binary()
    if binary is None:
        skip_or_fail("headless Chromium not found: `apt-get install chromium` (.ci/run installs it)")
    return binary


@pytest.fixture(scope="module")
def server(chromium, tmp_path_factory):
    """The local ZenML server, started by `zenml login --local` as a user starts it.

    Stopped at the end by its own PID (SIGTERM, the way `zenml logout --local` stops it, without
    the 10-30 s that command spends importing ZenML); the teardown fails if it outlives that.
    """
    folder = tmp_path_factory.mktemp("dashboard")
    env = {
        **os.environ,
        "ZENML_CONFIG_PATH": str(folder / "zenml-config"),  # its own store, apart from the other tests'
        "ZENML_AUTO_OPEN_DASHBOARD": "false",
    }
    env.pop("AUTO_OPEN_DASHBOARD", None)  # deprecated name: ZenML warns about it
    port = free_port()
    pid_file = folder / "zenml-config" / "zen_server" / "daemon" / "service.pid"
    daemon_pid = None
    started = time.monotonic()
    try:
        login = subprocess.run(
            [str(ZENML_CLI), "login", "--local", "--ip-address", "127.0.0.1", "--port", str(port)],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        daemon_pid = int(pid_file.read_text()) if pid_file.exists() else None
        assert login.returncode == 0, login.stdout[-2000:] + login.stderr[-4000:]
        assert daemon_pid is not None, f"no {pid_file} after `zenml login --local`"
        local = LocalServer(f"http://127.0.0.1:{port}", env, folder)
        local.timings["zenml login --local"] = time.monotonic() - started
        yield local
    finally:
        if daemon_pid is None and pid_file.exists():  # the login failed or timed out after starting it
            daemon_pid = int(pid_file.read_text())
        if daemon_pid is not None and process_alive(daemon_pid):
            os.kill(daemon_pid, signal.SIGTERM)
            if not wait_for(lambda: not process_alive(daemon_pid), 30):
                os.kill(daemon_pid, signal.SIGKILL)
                pytest.fail(f"the local ZenML server (PID {daemon_pid}) ignored SIGTERM for 30 s")
        assert wait_for(lambda: port_is_free(port), 10), f"port {port} still answers after the server stopped"


@pytest.fixture(scope="module")
def training_run(server) -> TrainingRun:
    """A small training run (one candidate, 3 folds, 1,200 rows) on the server's default stack.

    The default stack has no MLflow tracker: run.py then runs the steps untracked, and the run
    needs no `local` stack registered (15 s less).
    """
    write_sample(server.folder, seed=7)
    started = time.monotonic()
    result = run_cli(
        server.folder,
        *small_training_args(
            server.folder,
            MODEL,
            "parameters.evaluation.gates.min={roc_auc: 0.6, f1: 0.3}",
            "parameters.search.algorithms=[{name: lr, estimator: sklearn.linear_model.LogisticRegression, "
            "params: {class_weight: balanced, max_iter: 500}, search_space: {C: [1.0]}}]",
        ),
        env=server.env,
    )
    server.timings["training run"] = time.monotonic() - started
    output = ANSI_COLOUR.sub("", result.stdout + result.stderr)
    assert result.returncode == 0, output[-5000:]
    name = re.search(r"Pipeline run '(training-[^']+)' finished with status completed", output)
    url = re.search(r"Dashboard URL for Pipeline Run: (\S+)", output)
    holdout = re.search(r"Split by .*?: \d+ train, (\d+) holdout rows", output)
    roc_auc = re.search(r"Holdout: .*\broc_auc (\d\.\d{4})", output)
    assert name and url and holdout and roc_auc, output[-5000:]
    assert url.group(1).startswith(f"{server.url}/projects/default/runs/"), url.group(1)
    return TrainingRun(name.group(1), url.group(1), int(holdout.group(1)), roc_auc.group(1))


@pytest.fixture(scope="module")
def browser(server, training_run, chromium):
    answer_welcome_survey(server.url)
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)  # no screenshot of an earlier run left to mislead
    SCREENSHOTS.mkdir(parents=True)
    print(f"\ndashboard screenshots: {SCREENSHOTS}")
    chrome = HeadlessChromium(chromium, server.folder / "chromium-profile")
    started = time.monotonic()
    try:
        yield chrome
    finally:
        server.timings["browser"] = time.monotonic() - started
        chrome.close()
        print("dashboard test timings: " + ", ".join(f"{k} {v:.0f} s" for k, v in server.timings.items()))


def answer_welcome_survey(server_url: str) -> None:
    """Answer the survey a fresh server puts before its first user's first page ("Add your account
    details"), through the API calls the dashboard's survey makes, as a person answers it once.

    The local server runs without authentication, so the calls need no token.
    """

    def call(method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"{server_url}/api/v1{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.load(answer)

    user_id = call("GET", "/current-user")["id"]
    call("PUT", f"/users/{user_id}/email-opt-in", {"email_opted_in": False})
    call("PUT", f"/users/{user_id}", {"user_metadata": {"finished_onboarding_survey": True}})


@contextmanager
def screenshot_on_failure(chrome: HeadlessChromium, name: str):
    """Save what the browser showed when a check failed, next to the other screenshots."""
    try:
        yield
    except BaseException:
        try:
            chrome.screenshot(SCREENSHOTS / f"FAILED-{name}.png")
        except Exception:  # noqa: BLE001 - a browser too broken to take it: the error above says more
            pass
        raise


def open_run_page(chrome: HeadlessChromium, run: TrainingRun) -> str:
    """Open the run's page from the link run.py printed, unless the browser is there already
    (the runs list's test clicked its way there: drawing the DAG again takes 5-20 s); return
    its text once the DAG is drawn."""
    if not chrome.url().startswith(run.dashboard_url):
        chrome.open(run.dashboard_url)
    return chrome.wait_for_text(run.name, *STEPS, "evaluation_report", seconds=90)


def test_runs_list_shows_the_run_and_leads_to_it(browser, server, training_run):
    with screenshot_on_failure(browser, "runs-list"):
        browser.open(f"{server.url}/projects/default/runs")
        text = browser.wait_for_text(training_run.name, seconds=60)
        browser.screenshot(SCREENSHOTS / "runs-list.png", full_page=False)
        row = text[text.index(training_run.name) :]
        assert re.match(rf"{re.escape(training_run.name)}\s+\w{{8}}\s+training\b", row), row[:300]
        browser.click_text(f"#0001-{training_run.name}")
        assert wait_for(lambda: browser.url().startswith(training_run.dashboard_url), 30), browser.url()


def test_run_page_shows_every_step_completed(browser, training_run):
    with screenshot_on_failure(browser, "run"):
        text = open_run_page(browser, training_run)
        browser.screenshot(SCREENSHOTS / "run-dag.png", full_page=False)
        # the DAG draws each step as its name over its duration (an artifact: over its type)
        undrawn = [name for name in STEPS if not re.search(rf"\b{name}\s+\d+s\b", text)]
        assert undrawn == [], text[:3000]
        steps = len(STEPS)
        totals = rf"Total Steps\s+{steps}\s+Completed\s+{steps}\s+Not started\s+0"
        assert re.search(totals, text), text[-1500:]
        assert re.search(r"Status\s+completed\s+Pipeline\s+training", text), text[-1500:]


def open_evaluation_report(chrome: HeadlessChromium, run: TrainingRun) -> str:
    """Open the `evaluation_report` artifact's visualization in the run page's side panel, unless
    it shows already; return the report's text."""
    shown = "\n".join(chrome.frame_texts())
    if f"Evaluation: {MODEL}" in shown and chrome.url().startswith(run.dashboard_url):
        return shown
    open_run_page(chrome, run)
    for attempt in range(3):
        chrome.click_text("evaluation_report")  # the artifact's node in the DAG opens its panel
        chrome.wait_for_text("Visualization", "EvaluationReportMaterializer", seconds=30)
        chrome.click_text("Visualization", within="[role=dialog]")
        try:  # the dashboard asks before it renders an artifact's HTML
            chrome.wait_for_text("Load Preview", seconds=20)
            break
        except BrowserError:  # on a busy machine a click can land while the panel still renders
            if attempt == 2:
                raise
            chrome.open(run.dashboard_url)  # afresh: the page, its DAG and no panel open
            open_run_page(chrome, run)
    chrome.click_text("Load Preview", within="[role=dialog]")
    return chrome.wait_for_text(
        f"Evaluation: {MODEL}",
        "Confusion matrix (holdout)",
        read=lambda: "\n".join(chrome.frame_texts()),
    )


def test_evaluation_report_visualization_shows_the_runs_numbers(browser, training_run):
    with screenshot_on_failure(browser, "evaluation-report"):
        report = open_evaluation_report(browser, training_run)
        browser.screenshot(docs_image("dashboard-evaluation-report-panel.png"), full_page=False)
        assert f"{training_run.holdout_rows} holdout samples · positive class Yes" in report
        assert "algorithm lr" in report
        # the holdout table: metric, model, baseline (a trivial model's ROC AUC is 0.5)
        assert re.search(rf"roc_auc\s*↑\s+{re.escape(training_run.holdout_roc_auc)}\s+0\.5000\b", report), (
            report[:2000]
        )
        for section in (
            "Holdout metrics",
            "Cross-validation (training folds)",
            "ROC curve",
            "Feature importances",
        ):
            assert section in report


# The report's holdout table as drawn (in the report's own document): widths in CSS pixels, and
# how many lines each cell's text takes (its line boxes: one per distinct top).
HOLDOUT_TABLE_LAYOUT = """(() => {
  const section = [...document.querySelectorAll('section')].find(
    s => s.querySelector('h2') && s.querySelector('h2').textContent === 'Holdout metrics');
  if (!section) return null;
  const table = section.querySelector('table');
  const lines = cell => {
    const range = document.createRange();
    range.selectNodeContents(cell);
    return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
  };
  return {
    frame_width: document.documentElement.clientWidth,
    scroll_bar_width: window.innerWidth - document.documentElement.clientWidth,
    section_width: section.clientWidth,
    section_scroll_width: section.scrollWidth,
    rows: [...table.tBodies[0].rows].map(row => ({
      metric: row.cells[0].textContent.trim().split(/\\s/)[0],
      description_width: Math.round(row.querySelector('td.desc').getBoundingClientRect().width),
      description_lines: lines(row.querySelector('td.desc')),
      number_lines: Math.max(...[...row.querySelectorAll('td.num')].map(lines)),
    })),
  };
})()"""


def summary(layout: dict) -> str:
    """One line: the frame's width, the card's (and its content's), each description's width and lines."""
    return (
        f"holdout table in a {layout['frame_width']} px frame, card {layout['section_width']} px "
        f"(content {layout['section_scroll_width']} px): "
        + ", ".join(
            f"{row['metric']} {row['description_width']} px/{row['description_lines']} lines"
            for row in layout["rows"]
        )
    )


def assert_descriptions_read_as_sentences(layout: dict | None) -> None:
    """Each metric's description is a column wide enough for a phrase (at most 2 lines), its
    numbers keep to one line, and the table fits its card (no sideways scrolling)."""
    assert layout is not None, "no holdout metrics table in the report"
    assert layout["section_scroll_width"] <= layout["section_width"], layout
    assert [row["metric"] for row in layout["rows"]][:2] == ["accuracy", "balanced_accuracy"], layout
    for row in layout["rows"]:
        assert row["number_lines"] == 1, row
        assert row["description_width"] >= 220 and row["description_lines"] <= 2, row


# Browser windows the panel is read in: a small laptop's, the test browser's (the docs' screenshot)
# and a desktop's. The dashboard's side panel, and so the report's frame, widens with the window.
WINDOWS = ((1024, 768), (1400, 1000), (1920, 1080))


def resize(chrome: HeadlessChromium, width: int, height: int) -> None:
    chrome.call(
        "Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False
    )


def settled_panel_layout(chrome: HeadlessChromium) -> dict:
    """The holdout table's layout in the panel's frame, once two readings 0.5 s apart agree."""
    readings: list[dict] = []

    def settled() -> bool:
        readings.append(
            next((layout for layout in chrome.frame_values(HOLDOUT_TABLE_LAYOUT) if layout), None)
        )
        return len(readings) > 1 and readings[-1] is not None and readings[-1] == readings[-2]

    assert wait_for(settled, 20, every=0.5), readings[-2:]
    return readings[-1]


def test_the_holdout_tables_descriptions_read_as_sentences_in_the_panel(browser, server, training_run):
    with screenshot_on_failure(browser, "holdout-table"):
        open_evaluation_report(browser, training_run)
        panels = {}
        try:
            for width, height in WINDOWS:
                resize(browser, width, height)
                panels[width] = settled_panel_layout(browser)
                browser.screenshot(SCREENSHOTS / f"evaluation-report-{width}.png", full_page=False)
            print("\n" + "\n".join(f"{width} px window: {summary(panel)}" for width, panel in panels.items()))
            for panel in panels.values():
                assert_descriptions_read_as_sentences(panel)
            # The panel widens with the window, and the report with it.
            assert [panels[width]["frame_width"] for width, _ in WINDOWS] == sorted(
                panels[width]["frame_width"] for width, _ in WINDOWS
            )
            # The whole report, laid out at the width the test browser's panel gives it, for the docs
            # (without a scroll bar: the screenshot shows the whole page).
            panel = panels[1400]
            (page,) = server.folder.rglob("report.html")
            browser.call("Emulation.setScrollbarsHidden", hidden=True)
            resize(browser, panel["frame_width"], 1000)
            browser.open(page.as_uri())
            browser.wait_for_text(f"Evaluation: {MODEL}", "Holdout metrics")
            page_layout = browser.evaluate(HOLDOUT_TABLE_LAYOUT)
            assert page_layout["frame_width"] == panel["frame_width"], (page_layout, panel)
            assert_descriptions_read_as_sentences(page_layout)
            browser.screenshot(docs_image("dashboard-evaluation-report-full.png"), full_page=True)
        finally:
            browser.call("Emulation.setScrollbarsHidden", hidden=False)
            resize(browser, 1400, 1000)
