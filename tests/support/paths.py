"""Where the project is, for helpers that start processes in it or read its data and configs."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TELCO_CSV = PROJECT_ROOT / "data" / "raw" / "telco_churn.csv"
