"""Watching a production model: data quality, drift and the alert verdict (ZenML-free)."""
