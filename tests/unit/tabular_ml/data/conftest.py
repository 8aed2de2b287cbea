"""The bundled table the source tests read, and a SQLite copy of it."""

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from tests.support.paths import TELCO_CSV


@pytest.fixture(scope="module")
def expected() -> pd.DataFrame:
    return pd.read_csv(TELCO_CSV)


@pytest.fixture
def sqlite_url(expected: pd.DataFrame, tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'telco.db'}"
    engine = sa.create_engine(url)
    expected.to_sql("telco", engine, index=False)
    engine.dispose()
    return url
