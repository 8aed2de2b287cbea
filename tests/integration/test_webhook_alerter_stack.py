"""The `local-alerts` stack for real: registered with `run.py stack`, its secret made with the
ZenML CLI as docs/production.md says, alerts posted through `Client().active_stack.alerter` and by
ZenML's own step hooks to a webhook receiver on 127.0.0.1.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.integration.cli import ok, run_cli
from tests.support.paths import PROJECT_ROOT
from tests.support.webhook_server import SECRET_PATH, webhook_server

pytestmark = pytest.mark.integration

SECRET = "alert_webhook"  # the name configs/stacks/local-alerts.yaml gives
ZENML_CLI = str(Path(sys.executable).with_name("zenml"))


def script(folder: Path, name: str, code: str) -> Path:
    path = folder / name
    path.write_text(f"import sys\nsys.path.insert(0, {str(PROJECT_ROOT)!r})\n" + textwrap.dedent(code))
    return path


def python(path: Path, *args: str) -> subprocess.CompletedProcess:
    """A fresh interpreter (this one's client caches the active stack it saw)."""
    return subprocess.run(
        [sys.executable, str(path), *args], cwd=path.parent, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def alerts_stack(tmp_path_factory):
    folder = tmp_path_factory.mktemp("alerts")
    active = "from zenml.client import Client; print(Client().active_stack_model.name)"
    previous = ok(python(script(folder, "active.py", active))).stdout.split()[-1]
    with webhook_server() as server:
        ok(
            subprocess.run(
                [ZENML_CLI, "secret", "create", SECRET, f"--url={server.url}"], capture_output=True, text=True
            )
        )
        try:
            ok(run_cli(folder, "stack", "local-alerts"))
            yield folder, server
        finally:
            restore = f"from zenml.client import Client; Client().activate_stack({previous!r})"
            ok(python(script(folder, "restore.py", restore)))
            ok(subprocess.run([ZENML_CLI, "secret", "delete", SECRET, "-y"], capture_output=True, text=True))


def test_the_active_stacks_alerter_posts_to_the_webhook(alerts_stack):
    folder, server = alerts_stack
    server.requests.clear()
    post = script(
        folder,
        "post.py",
        """
            from zenml.client import Client
            from flavors.webhook_alerter.alerter import WebhookAlerterParameters

            alerter = Client().active_stack.alerter
            params = WebhookAlerterParameters(title="Nightly", fields={"roc_auc": 0.84})
            sent = alerter.post("retrain done", params)
            print(type(alerter).__name__, alerter.name, sent, alerter.ask("ok?"))
            """,
    )
    result = ok(python(post))
    assert result.stdout.split()[-4:] == ["WebhookAlerter", "webhook_alerter", "True", "False"]
    assert [(r.path, r.body) for r in server.requests] == [
        (SECRET_PATH, {"text": "*Nightly*\nretrain done\nroc_auc: 0.84"})
    ]
    assert SECRET_PATH not in result.stdout + result.stderr


PIPELINES = """
    from zenml import pipeline, step
    from zenml.hooks import alerter_failure_hook, alerter_success_hook


    @step(on_failure=alerter_failure_hook)
    def breaks() -> None:
        raise ValueError("the churn table is empty")


    @step(on_success=alerter_success_hook)
    def works() -> int:
        return 1


    @pipeline(enable_cache=False)
    def failing():
        breaks()


    @pipeline(enable_cache=False)
    def succeeding():
        works()


    if sys.argv[1:] == ["failing"]:
        try:
            failing()
        except Exception as exc:
            print("RUN FAILED:", type(exc).__name__)
    else:
        succeeding()
        print("RUN SUCCEEDED")
"""


def test_a_failing_step_alerts_through_zenmls_failure_hook(alerts_stack):
    folder, server = alerts_stack
    server.requests.clear()
    result = python(script(folder, "pipelines.py", PIPELINES), "failing")
    assert "RUN FAILED:" in result.stdout, result.stdout[-2000:] + result.stderr[-3000:]
    (request,) = server.requests
    text = request.body["text"]
    assert text.startswith("*Failure Hook Notification! Step failed!*\n\nPipeline name: `failing`")
    assert "Step name: `breaks`" in text and "the churn table is empty" in text


def test_an_undeliverable_alert_does_not_fail_the_run(alerts_stack):
    folder, server = alerts_stack
    server.requests.clear()
    server.answers[:] = [(500, {}, b"down")] * 10  # more than the component's 3 retries
    result = python(script(folder, "pipelines.py", PIPELINES), "succeeding")
    server.answers.clear()
    assert result.returncode == 0 and "RUN SUCCEEDED" in result.stdout, result.stderr[-3000:]
    assert len(server.requests) == 4  # the first attempt and three retries
    assert (
        server.requests[0].body["text"].startswith("*Success Hook Notification! Step completed successfully*")
    )
    assert "alert not delivered: HTTP 500 after 4 attempt(s): down" in result.stdout + result.stderr
    assert SECRET_PATH not in result.stdout + result.stderr
