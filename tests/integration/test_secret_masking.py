"""A password planted in a SQL source's URL is nowhere in the ZenML store, its logs, its
artifacts or the run's output.

Training runs for real (run.py against the throwaway store) from a PostgreSQL table given by
``url_env``, whose URL carries ``?password=<planted>`` in its query (the test server trusts local
connections: the password is accepted and unused). Then every file under the store's folder
(``ZENML_CONFIG_PATH``: the SQLite database, the step logs, the artifacts, the MLflow runs), the
repository folder and the run's folder, and the run's stdout and stderr, are searched byte for
byte (gzip files also decompressed): the planted value must be found 0 times.

So that the search cannot pass by looking in the wrong places, a control value, the table's
name (which the step log shows next to the URL and the run's configuration stores), is searched
the same way and must be found in the database, in a step log and in the output, next to the
URL masked as ``?password=***``.
"""

from __future__ import annotations

import gzip
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from tests.integration.cli import activate_local_stack, ok, output, run_cli
from tests.support.paths import PROJECT_ROOT
from tests.support.services import database_url_or_skip

pytestmark = pytest.mark.integration

MODEL = "churn_masking"
URL_ENV = "MASKING_TEST_DB_URL"


def count(path: Path, needle: str) -> int:
    """How often ``needle`` occurs in the file's bytes (and, for a gzip file, in what it holds)."""
    data, wanted = path.read_bytes(), needle.encode()
    found = data.count(wanted)
    if data[:2] == b"\x1f\x8b":  # a compressed log or artifact
        try:
            found += gzip.decompress(data).count(wanted)
        except (OSError, EOFError):
            pass
    return found


def occurrences(root: Path, needle: str) -> dict[str, int]:
    """{file path: times ``needle`` occurs in it} for every file under ``root`` holding it."""
    files = (path for path in root.rglob("*") if path.is_file() and not path.is_symlink())
    return {str(path): n for path in files if (n := count(path, needle))}


@dataclass
class PlantedRun:
    planted: str  # the password in the URL's query
    table: str  # the control value
    masked: str  # how the source must be shown
    text: str  # the run's stdout and stderr
    roots: list[Path]  # the store's folder first


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory) -> PlantedRun:
    url = database_url_or_skip("TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
    planted = f"PlantedPw{uuid.uuid4().hex}"
    table = f"masking_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(url)
    pd.read_csv(PROJECT_ROOT / "data/raw/telco_churn.csv").sample(1200, random_state=7).to_sql(
        table, engine, index=False
    )
    folder = tmp_path_factory.mktemp("masking")
    env = {**os.environ, URL_ENV: f"{url}?password={planted}"}
    try:
        activate_local_stack()
        result = ok(
            run_cli(
                folder,
                "--config",
                str(PROJECT_ROOT / "configs/training.yaml"),
                f"parameters.source={{type: sql, url_env: {URL_ENV}, table: {table}}}",
                f"model.name={MODEL}",
                "parameters.search.cv=3",
                "parameters.search.n_jobs=1",
                "parameters.search.algorithms=[{name: lr, "
                "estimator: sklearn.linear_model.LogisticRegression, "
                "params: {class_weight: balanced, max_iter: 500}, search_space: {C: [0.1]}}]",
                "parameters.evaluation.gates.min={roc_auc: 0.6, f1: 0.3}",
                env=env,
            )
        )
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()
    shown = sa.engine.make_url(url).render_as_string(hide_password=True)
    return PlantedRun(
        planted=planted,
        table=table,
        masked=f"table '{table}' at {shown}?password=***",
        text=output(result),
        roots=[Path(os.environ["ZENML_CONFIG_PATH"]), Path(os.environ["ZENML_REPOSITORY_PATH"]), folder],
    )


def test_the_planted_password_is_nowhere(planted_run: PlantedRun) -> None:
    found = {"the run's output": planted_run.text.count(planted_run.planted)}
    for root in planted_run.roots:
        found.update(occurrences(root, planted_run.planted))
    assert found == {"the run's output": 0}  # else: where it leaked, how often


def test_the_search_finds_what_is_there(planted_run: PlantedRun) -> None:
    run = planted_run
    assert f"Read 1200 rows in 1 chunks from {run.masked} in " in run.text  # shown, masked
    found = occurrences(run.roots[0], run.table)
    assert any(path.endswith(".db") for path in found), found  # the run's configuration
    step_logs = [Path(path) for path in found if "logs" in Path(path).parts or path.endswith(".log")]
    assert any(count(path, run.masked) for path in step_logs), found  # ingest_data's log line
